from edms_archive.main import run

run()
