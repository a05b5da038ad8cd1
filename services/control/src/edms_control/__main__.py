from edms_control.main import run

run()
