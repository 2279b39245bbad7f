"""The runner in a process of its own, so a test can send it SIGINT as a terminal would:

    run_specs.py SPECS.json ROOT [READY_TIMEOUT STOP_TIMEOUT]
"""

import json
import sys

from jbuild.engine.services import ServiceSpec, run_services

if __name__ == "__main__":
    specs = [ServiceSpec(**s) for s in json.loads(open(sys.argv[1]).read())]
    timeouts = [float(t) for t in sys.argv[3:5]] or [10.0, 5.0]
    sys.exit(run_services(specs, sys.argv[2], sys.stdout, ready_timeout=timeouts[0], stop_timeout=timeouts[1]))
