from edms_routing.main import run

run()
