"""Command-line layer."""
def main():
    from importlib.resources import files
    print(sorted(p.name for p in files("nndsl.stdlib").iterdir()))
