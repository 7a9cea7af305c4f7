"""Parse one iCalendar object from stdin with libical (GObject bindings) and print JSON
(one VEVENT; with ``--all``, every VEVENT).

Runs under the system interpreter (``/usr/bin/python3``) with ``gir1.2-ical-3.0``; it is not
imported by the test suite. TZIDs are resolved only through the VTIMEZONE components in the
object, and libical's iTIP restriction check (``check_restrictions``) is reported as
``itip_errors``.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime

import gi

gi.require_version("ICalGLib", "3.0")
from gi.repository import ICalGLib  # noqa: E402

Kind = ICalGLib.ComponentKind
Prop = ICalGLib.PropertyKind
Param = ICalGLib.ParameterKind


def components(parent, kind):
    child = parent.get_first_component(kind)
    while child is not None:
        yield child
        child = parent.get_next_component(kind)


def properties(component, kind=Prop.ANY_PROPERTY):
    prop = component.get_first_property(kind)
    while prop is not None:
        yield prop
        prop = component.get_next_property(kind)


def value(component, kind):
    prop = component.get_first_property(kind)
    return None if prop is None else prop.get_value_as_string()


def param(prop, name):
    return prop.get_parameter_as_string(name)


def timezones(root):
    zones = {}
    for vtimezone in components(root, Kind.VTIMEZONE_COMPONENT):
        zone = ICalGLib.Timezone.new()
        zone.set_component(vtimezone.clone())
        zones[zone.get_tzid()] = zone
    return zones


def utc_iso(time, tzid, zones):
    """The instant as ISO 8601 in UTC, resolving ``tzid`` with the embedded VTIMEZONE only."""
    utc = ICalGLib.Timezone.get_utc_timezone()
    if time.is_utc():
        zone = utc
    elif tzid is not None:
        if tzid not in zones:
            raise SystemExit(f"TZID {tzid!r} is not declared in a VTIMEZONE")
        zone = zones[tzid]
    else:
        raise SystemExit("floating time: no TZID and not UTC")
    seconds = ICalGLib.Time.as_timet_with_zone(time, zone)
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def time_of(vevent, kind, zones):
    prop = vevent.get_first_property(kind)
    if prop is None:
        return None
    tzid_param = prop.get_first_parameter(Param.TZID_PARAMETER)
    tzid = None if tzid_param is None else tzid_param.get_tzid()
    time = ICalGLib.Time.new_from_string(prop.get_value_as_string())
    return utc_iso(time, tzid, zones)


def component_utc(time):
    """libical's own resolution of a DTSTART/DTEND through the component tree."""
    zone = time.get_timezone()
    seconds = ICalGLib.Time.as_timet_with_zone(time, zone) if zone else time.as_timet()
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def address(prop):
    return {
        "value": prop.get_value_as_string(),
        "cn": param(prop, "CN"),
        "role": param(prop, "ROLE"),
        "partstat": param(prop, "PARTSTAT"),
        "rsvp": param(prop, "RSVP"),
        "cutype": param(prop, "CUTYPE"),
    }


def itip_errors(root):
    checked = root.clone()
    checked.check_restrictions()
    errors = []
    for component in [checked, *components(checked, Kind.ANY_COMPONENT)]:
        for prop in properties(component, Prop.XLICERROR_PROPERTY):
            errors.append(prop.get_value_as_string())
    return errors


def event_result(root, vevent, zones):
    used = sorted(
        {
            p.get_first_parameter(Param.TZID_PARAMETER).get_tzid()
            for p in properties(vevent)
            if p.get_first_parameter(Param.TZID_PARAMETER) is not None
        }
    )
    organizer = vevent.get_first_property(Prop.ORGANIZER_PROPERTY)
    return {
        "method": value(root, Prop.METHOD_PROPERTY),
        "version": value(root, Prop.VERSION_PROPERTY),
        "uid": vevent.get_uid(),
        "sequence": vevent.get_sequence(),
        "status": value(vevent, Prop.STATUS_PROPERTY),
        "summary": vevent.get_summary(),
        "location": vevent.get_location(),
        "description": vevent.get_description(),
        "dtstamp_utc": time_of(vevent, Prop.DTSTAMP_PROPERTY, zones),
        "dtstart_utc": time_of(vevent, Prop.DTSTART_PROPERTY, zones),
        "dtend_utc": time_of(vevent, Prop.DTEND_PROPERTY, zones),
        "dtstart_utc_component": component_utc(vevent.get_dtstart()),
        "dtend_utc_component": component_utc(vevent.get_dtend()),
        "tzids": sorted(zones),
        "used_tzids": used,
        "properties": [p.get_property_name() for p in properties(vevent)],
        "organizer": None if organizer is None else address(organizer),
        "attendees": [address(p) for p in properties(vevent, Prop.ATTENDEE_PROPERTY)],
    }


def main() -> None:
    """One VEVENT; with ``--all``, every VEVENT of the calendar (a feed): ``{"events": …}``."""
    text = sys.stdin.buffer.read().decode("utf-8")
    root = ICalGLib.Component.new_from_string(text)
    if root is None or root.isa() != Kind.VCALENDAR_COMPONENT:
        raise SystemExit("not a VCALENDAR")
    events = list(components(root, Kind.VEVENT_COMPONENT))
    zones = timezones(root)
    checks = {"parse_errors": root.count_errors(), "itip_errors": itip_errors(root)}
    if "--all" in sys.argv[1:]:
        result = {"events": [event_result(root, e, zones) for e in events], **checks}
    else:
        if len(events) != 1:
            raise SystemExit(f"expected exactly one VEVENT, found {len(events)}")
        result = event_result(root, events[0], zones) | checks
    sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
