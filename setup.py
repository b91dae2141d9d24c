"""Package discovery (all other metadata is in pyproject.toml).

`codeinstruct` is a namespace package spread over two top-level folders, `workers/` (data plane)
and `operator/` (control plane). Neither folder is a package itself, so nothing is importable as a
bare `operator`, which would shadow the standard library module.
"""

from setuptools import find_namespace_packages, setup

package_dir = {
    package: f"{top}/{package.replace('.', '/')}"
    for top in ("workers", "operator")
    for package in find_namespace_packages(top, include=["codeinstruct.*"])
    if "__pycache__" not in package
}
setup(packages=sorted(package_dir), package_dir=package_dir)
