"""`jbuild image`: reproducible OCI images of a run closure, one cached layer per store entry.

    composed = image_of_node(plan, closure, node, rebuilder, overrides)   # target.py
    write_archive(composed.image, path, docker=False) / write_directory(composed.image, dir)  # oci.py

compose.py lays the closure out (entry layers from layers.py, the host C library from
hostlibs.py, a top layer with etc/ and var/); tarball.py makes every byte reproducible;
docs/images.md is the user's page.
"""
