from edms_registry.main import run

run()
