"""Server operators: password hashes for the ``--oper`` blocks (hashing is stdlib scrypt)."""
