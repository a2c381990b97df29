-- Meeting series, meetings (a unit's BTI meetings, the cases booked into
-- their slots, and cases' own meetings), participants, slots, the derived
-- deadlines, what scheduling knows of relay logs, the access log, and the
-- events already handled. Enums are stored by their proto value name.

CREATE TABLE scheduling_series (
    tenant          TEXT NOT NULL,
    unit            TEXT NOT NULL,
    id              TEXT NOT NULL,
    display_name    TEXT NOT NULL,
    time_zone       TEXT NOT NULL,
    first_start     TEXT NOT NULL,
    recurrence      TEXT NOT NULL,
    start_times     TEXT NOT NULL,
    duration_secs   BIGINT NOT NULL,
    slot_secs       BIGINT NOT NULL,
    slot_capacity   BIGINT NOT NULL,
    location        TEXT NOT NULL,
    standing_units  TEXT NOT NULL,
    version         BIGINT NOT NULL,
    create_time     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, unit, id)
);

CREATE TABLE scheduling_meetings (
    tenant          TEXT NOT NULL,
    unit            TEXT NOT NULL,
    id              TEXT NOT NULL,
    kind            TEXT NOT NULL,
    case_log        TEXT NOT NULL,
    subject         TEXT NOT NULL,
    series          TEXT NOT NULL,
    slot            TEXT NOT NULL,
    start_time      TIMESTAMPTZ NOT NULL,
    duration_secs   BIGINT NOT NULL,
    location        TEXT NOT NULL,
    video_link      TEXT NOT NULL,
    agenda          TEXT NOT NULL,
    organizer       TEXT NOT NULL,
    organizer_unit  TEXT NOT NULL,
    state           TEXT NOT NULL,
    minutes_entry   TEXT NOT NULL,
    sequence        BIGINT NOT NULL,
    version         BIGINT NOT NULL,
    create_time     TIMESTAMPTZ NOT NULL,
    update_time     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX scheduling_meetings_by_unit ON scheduling_meetings (tenant, unit, start_time);
CREATE INDEX scheduling_meetings_by_log ON scheduling_meetings (tenant, case_log, start_time);
CREATE INDEX scheduling_meetings_by_subject ON scheduling_meetings (tenant, subject, start_time);

CREATE TABLE scheduling_participants (
    tenant          TEXT NOT NULL,
    meeting         TEXT NOT NULL,
    id              TEXT NOT NULL,
    role            TEXT NOT NULL,
    unit            TEXT NOT NULL,
    professional    TEXT NOT NULL,
    person          TEXT NOT NULL,
    representation  TEXT NOT NULL,
    response        TEXT NOT NULL,
    removed         BOOLEAN NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX scheduling_participants_by_meeting ON scheduling_participants (tenant, meeting);
CREATE INDEX scheduling_participants_by_professional ON scheduling_participants (tenant, professional);
CREATE INDEX scheduling_participants_by_person ON scheduling_participants (tenant, person);

CREATE TABLE scheduling_slots (
    tenant          TEXT NOT NULL,
    unit            TEXT NOT NULL,
    meeting         TEXT NOT NULL,
    id              TEXT NOT NULL,
    start_time      TIMESTAMPTZ NOT NULL,
    duration_secs   BIGINT NOT NULL,
    capacity        BIGINT NOT NULL,
    booked          BIGINT NOT NULL,
    PRIMARY KEY (tenant, unit, meeting, id),
    -- The last place in a slot goes to one booking only.
    CHECK (booked >= 0 AND booked <= capacity)
);

CREATE TABLE scheduling_deadlines (
    tenant          TEXT NOT NULL,
    id              TEXT NOT NULL,
    kind            TEXT NOT NULL,
    cause           TEXT NOT NULL,
    case_log        TEXT NOT NULL,
    subject         TEXT NOT NULL,
    resource        TEXT NOT NULL,
    unit            TEXT NOT NULL,
    responsible     TEXT NOT NULL,
    due_time        TIMESTAMPTZ NOT NULL,
    remind_time     TIMESTAMPTZ NOT NULL,
    escalate_time   TIMESTAMPTZ NOT NULL,
    state           TEXT NOT NULL,
    stage           TEXT NOT NULL,
    close_time      TIMESTAMPTZ,
    version         BIGINT NOT NULL,
    create_time     TIMESTAMPTZ NOT NULL,
    update_time     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, id),
    UNIQUE (tenant, cause)
);
CREATE INDEX scheduling_deadlines_open ON scheduling_deadlines (remind_time) WHERE state = 'DEADLINE_STATE_OPEN';
CREATE INDEX scheduling_deadlines_by_owner ON scheduling_deadlines (tenant, responsible, due_time);
CREATE INDEX scheduling_deadlines_by_unit ON scheduling_deadlines (tenant, unit, due_time);
CREATE INDEX scheduling_deadlines_by_log ON scheduling_deadlines (tenant, case_log);

CREATE TABLE scheduling_logs (
    tenant          TEXT NOT NULL,
    case_log        TEXT NOT NULL,
    subject         TEXT NOT NULL,
    unit            TEXT NOT NULL,
    holder          TEXT NOT NULL,
    holder_unit     TEXT NOT NULL,
    active          BOOLEAN NOT NULL,
    open_time       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, case_log)
);
CREATE INDEX scheduling_logs_by_subject ON scheduling_logs (tenant, subject);

CREATE TABLE scheduling_access (
    tenant          TEXT NOT NULL,
    subject         TEXT NOT NULL,
    id              TEXT NOT NULL,
    actor           TEXT NOT NULL,
    resource        TEXT NOT NULL,
    action          TEXT NOT NULL,
    purpose         TEXT NOT NULL,
    create_time     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant, subject, id)
);
CREATE INDEX scheduling_access_by_subject ON scheduling_access (tenant, subject, create_time);

CREATE TABLE scheduling_events (
    id              TEXT PRIMARY KEY,
    handled_time    TIMESTAMPTZ NOT NULL
);

-- The children's consents with an end of validity, so that a log opened
-- after its consent still gets its renewal deadline.
CREATE TABLE scheduling_consents (
    tenant          TEXT NOT NULL,
    consent         TEXT NOT NULL,
    subject         TEXT NOT NULL,
    valid_until     TIMESTAMPTZ,
    active          BOOLEAN NOT NULL,
    PRIMARY KEY (tenant, consent)
);
CREATE INDEX scheduling_consents_by_subject ON scheduling_consents (tenant, subject);
