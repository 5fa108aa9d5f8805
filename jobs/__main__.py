"""`python -m jobs`: the same program as the `jobs` and `gjobs` console scripts."""

from jobs.cli import main

if __name__ == "__main__":
    main()
