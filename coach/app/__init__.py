"""The Gradio app: one module per tab (chat_tab, interview_tab, batch_tab, progress_tab),
the named API endpoints (api), and server.py, which composes them and serves.

Nothing here decides anything the CLI would also need: every answer, grade, session
and report comes from the engine (coach.chat, coach.grading, coach.interview,
coach.evaluation) through coach.wiring.build_coach.
"""
