"""Renders a kustomization directory to YAML on stdout with kustomize's own
Go library (the krusty API, bundled by the PyPI package pykustomize): the same
output as `kubectl kustomize DIR`, with no kubectl or kustomize binary.

Usage: render_kustomize.py DIR
"""

import asyncio
import sys

import pykustomize


def main():
    result = asyncio.run(pykustomize.build(sys.argv[1]))
    sys.stdout.write(result.yaml)


if __name__ == "__main__":
    main()
