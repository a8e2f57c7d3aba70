"""Does nothing: the benchmark of a Python call's fixed cost."""


def faasm_main():
    pass
