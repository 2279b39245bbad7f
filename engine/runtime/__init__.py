"""Running what was built: environments assembled from a run closure (environment.py), the
launchers that make their programs load the environment's libraries (launchers.py), and named
environments with generations (generations.py). DESIGN §10 holds the decisions."""
