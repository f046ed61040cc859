"""Triggers: build on `git push` (post-receive hook) or on forge webhooks (GitHub, GitLab,
Gitea/Forgejo, generic). Both paths share one SQLite build history that is also the
per-repository queue: builds of a repository run one at a time, a newer push to a ref
supersedes a queued one, and queued or interrupted work survives a crash."""
