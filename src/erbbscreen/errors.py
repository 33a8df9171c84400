"""Errors that carry a message meant for the user: which file, which record, and the fix."""


class InputError(Exception):
    """Bad user input found before compute; the message lists every problem."""

    def __init__(self, problems, header="Input problems found"):
        if isinstance(problems, str):
            problems = [problems]
        self.problems = list(problems)
        lines = [f"{header} ({len(self.problems)}):"] + [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))
