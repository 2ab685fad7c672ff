"""Every prompt template, in one place: one module per capability (chat, grading, interview).

The user's text is always quoted as data inside these templates, never as instructions.
"""
