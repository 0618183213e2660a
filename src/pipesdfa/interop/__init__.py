"""Interchange with other tools: NIR graphs (:mod:`.nir_export`, :mod:`.nir_import`)."""
