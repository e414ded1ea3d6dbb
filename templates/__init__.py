"""Jinja2 templates for the letters Mailbot sends (installed as mailbot.templates).

Each letter is three files: NAME.subject.j2, NAME.txt.j2 and NAME.html.j2. An operator can
override any of them by putting a file of the same name in the configured templates folder.
"""
