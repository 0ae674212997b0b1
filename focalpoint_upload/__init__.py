"""The process level: the console script (``cli``), assembly of a process from the settings (``service``,
``worker``), the embedded Redis the service owns (``embedded``, ``procfs``), signal handling (``lifecycle``)
and logging set-up (``logs``). Only ``cli`` reads the environment."""
