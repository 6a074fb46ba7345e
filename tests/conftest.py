pytest_plugins = [
    "tests.fixtures.mongo",
    "tests.fixtures.nats",
    "tests.fixtures.s3",
    "tests.fixtures.sluice_server",
]
