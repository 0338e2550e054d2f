// honeynet web: the page scripts. No data is ever inserted as HTML: every
// value from the server goes into textContent or an attribute set through
// the DOM, and links are built from encodeURIComponent.
'use strict';

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function endpoint(ip, port) {
  if (port === undefined || port === null) return ip || '';
  return (ip && ip.indexOf(':') >= 0 ? '[' + ip + ']' : ip) + ':' + port;
}

// Live: new events on top of the #live table, every 2 s, without reloading.
function live() {
  const table = document.getElementById('live');
  if (!table) return;
  const body = table.tBodies[0];
  let after = Number(table.dataset.after || 0);
  async function poll() {
    try {
      const r = await fetch('/api/events?after=' + encodeURIComponent(after), {credentials: 'same-origin'});
      if (r.ok) {
        const events = await r.json();
        for (const e of events) {
          after = Math.max(after, Number(e.id));
          const tr = el('tr', String(e.cls || '') + ' fresh');
          tr.dataset.id = String(e.id);
          tr.appendChild(el('td', 't', e.time));
          tr.appendChild(el('td', null, e.what));
          tr.appendChild(el('td', null, e.honeypot));
          tr.appendChild(el('td', null, e.proto));
          const src = el('td');
          if (e.src) {
            const a = el('a', 'attacker', endpoint(e.src, e.sport));
            a.href = '/search?q=' + encodeURIComponent(e.src);
            src.appendChild(a);
          }
          tr.appendChild(src);
          tr.appendChild(el('td', null, endpoint(e.dst, e.dport)));
          const links = el('td');
          if (e.flow_id) {
            const a = el('a', null, 'flow');
            a.href = '/flow/' + encodeURIComponent(e.flow_id);
            links.appendChild(a);
          }
          tr.appendChild(links);
          body.insertBefore(tr, body.firstChild);
        }
        while (body.rows.length > 200) body.deleteRow(body.rows.length - 1);
        table.dataset.after = String(after);
        const n = document.getElementById('live-count');
        if (n && events.length) n.textContent = String(events.length) + ' new';
      }
    } catch (err) {
      // The server went away for a moment: try again on the next tick.
    }
    setTimeout(poll, 2000);
  }
  setTimeout(poll, 2000);
}

// A terminal session replayed: output frames with their pauses, shown as
// text (escape sequences taken out, backspace and carriage return applied).
function cleanTerminal(prev, text) {
  let s = prev;
  text = text.replace(/\x1b\[[0-9;?]*[ -\/]*[@-~]/g, '')
             .replace(/\x1b\][^\x07\x1b]*(\x07|\x1b\\)/g, '')
             .replace(/\x1b[()][0-9A-Za-z]/g, '')
             .replace(/\x1b[@-_]/g, '');
  for (const ch of text) {
    if (ch === '\b') s = s.slice(0, -1);
    else if (ch === '\r') continue;
    else if (ch === '\x07') continue;
    else if (ch < ' ' && ch !== '\n' && ch !== '\t') s += '\u00b7';
    else s += ch;
  }
  return s;
}

function tty() {
  const pre = document.getElementById('tty');
  if (!pre) return;
  let frames = [];
  let timer = null;
  async function load() {
    const r = await fetch(pre.dataset.src, {credentials: 'same-origin'});
    if (!r.ok) { pre.textContent = 'could not load the session (' + r.status + ')'; return; }
    frames = (await r.json()).frames || [];
  }
  function showAll() {
    if (timer) clearTimeout(timer);
    let s = '';
    for (const f of frames) s = cleanTerminal(s, f.t);
    pre.textContent = s;
  }
  function play() {
    if (timer) clearTimeout(timer);
    let i = 0, s = '';
    pre.textContent = '';
    function step() {
      if (i >= frames.length) return;
      s = cleanTerminal(s, frames[i].t);
      pre.textContent = s;
      i++;
      if (i < frames.length) timer = setTimeout(step, Math.min(Number(frames[i].d) || 0, 2000));
    }
    step();
  }
  load().then(play);
  const p = document.getElementById('tty-play');
  if (p) p.addEventListener('click', play);
  const a = document.getElementById('tty-all');
  if (a) a.addEventListener('click', showAll);
}

document.addEventListener('DOMContentLoaded', () => { live(); tty(); });
