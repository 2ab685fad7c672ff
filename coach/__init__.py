"""Interview Coach: a private, local study partner for deep-learning interviews."""

import os

# OpenMP threads (llama.cpp's and torch's) spin at a barrier before they sleep. Measured on
# 2 cores: with OpenMP's default spin, two busy processes (the app and a test client, or chat
# beside an evaluation) each fell to 0.9 tokens/s; always sleeping (OMP_WAIT_POLICY=PASSIVE)
# cost 3x on an idle machine (68 -> 26 tok/s). A short spin keeps both: 66 tok/s idle,
# 24 tok/s each for two at once. Set here, before torch or llama_cpp load libgomp; a value
# the user set wins.
os.environ.setdefault("GOMP_SPINCOUNT", "1000")

__version__ = "0.1.0"
