pytest_plugins = ["tests.fixtures.nats", "tests.fixtures.sluice_server"]
