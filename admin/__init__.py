"""The application shell: the `priorauth` command line now; the web app, store and API next."""
