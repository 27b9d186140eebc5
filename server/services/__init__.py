"""Rules and workflow, with no HTTP: each module holds one concern (assessments, sync, acceptance,
reports, users ...) as public, typed functions and classes that check the caller's scope first
(`access.require`) and keep their SQL in server/store/."""
