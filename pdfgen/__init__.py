"""PDF documents: acceptance certificates, 达标情况通报 league tables, comparisons and gap reports."""
