-- Generated media: every speech clip, image and video a job made, with the parameters it ran with (its seed
-- included), so the gallery can show them and re-run one exactly.

CREATE TABLE media_items (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at  REAL NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('speech', 'image', 'video')),
    path        TEXT NOT NULL,
    params      TEXT NOT NULL,              -- JSON: the request as run
    seconds     REAL NOT NULL,              -- how long making it took
    notes       TEXT NOT NULL DEFAULT '[]'  -- JSON list: fallbacks taken, settings the model ignored
);

CREATE INDEX media_items_created ON media_items (created_at);
