"""Backups: restic and borg repositories, dump folders and backup jobs' own reports, read
defensively, and the age of each one's newest good recovery point against its RPO."""
