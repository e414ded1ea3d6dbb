"""`python -m mailbot`: the same as the `mailbot` command."""

from mailbot.cli import main

if __name__ == "__main__":  # not when a worker process is spawned
    main()
