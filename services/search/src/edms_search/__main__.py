from edms_search.main import run

run()
