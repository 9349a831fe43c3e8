"""The argument parsing of `imagenet-tc`, one module per group of commands, each with an `add_parsers(commands)`
that adds its commands to the command line's subparsers: `browse` (hierarchy, prompts, show), `scoring` (evaluate,
report) and `leaderboard` (submit, leaderboard); `help` is the help's layout, with each command's example. audit
and compare-study keep theirs beside their code (`audit/cli.py`, `compare_study/cli.py`), and demo its own in
`cli.py`, the one module of the library that may hand a command to the builder.
"""
