"""What a server process loads before its first request: every module is held by each of a
node's processes, so features most servers never use load on first use."""
import subprocess
import sys

# Each of these costs megabytes per process (jsonschema with its optional format checkers,
# installed by the test extras, also builds a grammar at import: seconds per server start).
ON_FIRST_USE = ("jsonschema", "rfc3987_syntax", "jwt", "sqlalchemy.orm", "botocore.session",
                "botocore.client", "alembic", "univers")


def test_a_server_loads_no_feature_it_has_not_used():
    script = ("import sys\n"
              "from berth.api.http import protocol\n"
              "from berth.app import create_app, settle_heap\n"
              "from berth.cli.main import main\n"
              "settle_heap()\n"
              f"print(' '.join(m for m in {ON_FIRST_USE!r} if m in sys.modules))\n")
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True).stdout.split()
    assert loaded == []


def test_the_lifecycle_validator_loads_jsonschema_when_first_used():
    script = ("import sys\n"
              "from berth.lifecycle.policy import parse\n"
              "assert 'jsonschema' not in sys.modules\n"
              "parse('{\"rules\": []}')\n"
              "print('jsonschema' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "True"
