-- Reports: the business-calendar spans that sql/reports/ queries count working time with, unpacked
-- once here instead of in every query. :calendars (built by feedback.reports.sections from
-- calendars.yaml) holds per calendar the sorted working periods as epoch seconds: s (starts),
-- l (lengths), c (business seconds before each period), or "always": true for a 24x7 calendar.
-- Forward-only: never edit this file once applied; add 009_*.sql instead.

CREATE FUNCTION calendar_spans(calendars jsonb)
RETURNS TABLE (name text, always boolean, s float8[], l float8[], c float8[])
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT j.key,
           coalesce((j.value ->> 'always')::boolean, false),
           ARRAY(SELECT x::float8 FROM jsonb_array_elements_text(j.value -> 's') WITH ORDINALITY AS a (x, n)
                 ORDER BY n),
           ARRAY(SELECT x::float8 FROM jsonb_array_elements_text(j.value -> 'l') WITH ORDINALITY AS a (x, n)
                 ORDER BY n),
           ARRAY(SELECT x::float8 FROM jsonb_array_elements_text(j.value -> 'c') WITH ORDINALITY AS a (x, n)
                 ORDER BY n)
    FROM jsonb_each(calendars) AS j
$$;
