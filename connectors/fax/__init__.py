"""Fax: outbound providers behind one seam (base.py), and faxed replies coming in.

    from connectors.fax import providers
    provider = providers.get("spool", spool_dir=...)    # or "hylafax"

Providers are imported lazily from PROVIDERS (dotted paths), so using one never loads another.
"""
