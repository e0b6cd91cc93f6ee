"""Channels to payers (fax, portal, X12 278, FHIR), one folder each; none ships yet."""
