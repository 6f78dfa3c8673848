"""Pure domain model of a multi-authority investigation: events, state, procedures, calendars. No I/O."""
