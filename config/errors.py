"""The root exception of the config package."""


class ConfigError(Exception):
    """A setting is missing or malformed.

    The message names the variable, says what is wrong and gives an example of a good value, so that an
    operator can fix the environment without reading the code.
    """

    def __init__(self, variable: str, problem: str, example: str) -> None:
        self.variable = variable
        self.problem = problem
        self.example = example
        super().__init__(f"{variable}: {problem} (for example {variable}={example})")
