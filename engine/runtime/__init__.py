"""Running what was built: environments assembled from a run closure (environment.py), the
launchers that make their programs load the environment's libraries (launchers.py), named
environments with generations (generations.py, named.py), and config, settings, etc templates
and slots (config.py). DESIGN §10 holds the decisions."""
