// Parse one iCalendar object from stdin with ical.js (Thunderbird's parser) and print JSON
// (one VEVENT; with --all, every VEVENT).
//
// Only the VTIMEZONE components inside the object are used to resolve TZIDs: nothing is
// registered in ICAL.TimezoneService, so a TZID without a definition is reported, not guessed.
import ICAL from "ical.js";

function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = [];
    process.stdin.on("data", (chunk) => chunks.push(chunk));
    process.stdin.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    process.stdin.on("error", reject);
  });
}

function utc(time) {
  if (!time) {
    return null;
  }
  if (time.zone === ICAL.Timezone.localTimezone || time.zone?.tzid === "floating") {
    throw new Error(`time ${time.toString()} is floating: its TZID was not resolved`);
  }
  return new Date(time.toUnixTime() * 1000).toISOString();
}

function address(prop) {
  return {
    value: prop.getFirstValue(),
    cn: prop.getParameter("cn") ?? null,
    role: prop.getParameter("role") ?? null,
    partstat: prop.getParameter("partstat") ?? null,
    rsvp: prop.getParameter("rsvp") ?? null,
    cutype: prop.getParameter("cutype") ?? null,
  };
}

function usedTzids(component) {
  const found = new Set();
  for (const prop of component.getAllProperties()) {
    const tzid = prop.getParameter("tzid");
    if (tzid) {
      found.add(tzid);
    }
  }
  return [...found];
}

function eventResult(calendar, vevent) {
  const event = new ICAL.Event(vevent);
  const organizer = vevent.getFirstProperty("organizer");
  return {
    method: calendar.getFirstPropertyValue("method"),
    version: calendar.getFirstPropertyValue("version"),
    uid: event.uid,
    sequence: event.sequence,
    status: vevent.getFirstPropertyValue("status"),
    summary: event.summary,
    location: event.location,
    description: event.description,
    dtstamp_utc: utc(vevent.getFirstPropertyValue("dtstamp")),
    dtstart_utc: utc(event.startDate),
    dtend_utc: utc(event.endDate),
    dtstart_tzid: event.startDate?.zone?.tzid ?? null,
    tzids: calendar.getAllSubcomponents("vtimezone").map((tz) => tz.getFirstPropertyValue("tzid")),
    used_tzids: usedTzids(vevent),
    properties: vevent.getAllProperties().map((prop) => prop.name.toUpperCase()),
    organizer: organizer ? address(organizer) : null,
    attendees: vevent.getAllProperties("attendee").map(address),
  };
}

// With --all, a calendar of any number of VEVENTs (a feed): {"events": [...]}.
const all = process.argv.includes("--all");
const text = await readStdin();
const calendar = new ICAL.Component(ICAL.parse(text));
const events = calendar.getAllSubcomponents("vevent");
if (all) {
  const result = { events: events.map((vevent) => eventResult(calendar, vevent)) };
  process.stdout.write(JSON.stringify(result) + "\n");
} else {
  if (events.length !== 1) {
    throw new Error(`expected exactly one VEVENT, found ${events.length}`);
  }
  process.stdout.write(JSON.stringify(eventResult(calendar, events[0])) + "\n");
}
