"""Disaster recovery over DICOM: a primary/mirror pair's studies reconciled day by day with
C-FIND (:mod:`.reconcile`), and the failover drill that retrieves a test study from the mirror
(:mod:`.drill`). The DICOM client both use is :mod:`.association`."""
