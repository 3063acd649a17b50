// The status page: polls status, counts and snapshots from the board that serves it, draws the
// hourly chart as inline SVG. No library, no other origin: the board is offline.
(() => {
  'use strict';
  const token = new URLSearchParams(location.search).get('token');
  const withToken = (u) => token ? u + (u.includes('?') ? '&' : '?') + 'token=' + encodeURIComponent(token) : u;
  const COUNTS = 'api/counts?by=hour';
  const COLORS = ['#2f6fdf', '#1f9d55', '#d98a00', '#8a5cf6', '#d14343', '#0aa5b8', '#c2410c', '#64748b'];
  const $ = (id) => document.getElementById(id);
  document.body.dataset.countsQuery = COUNTS;
  for (const id of ['metrics-link', 'status-link']) $(id).href = withToken($(id).getAttribute('href'));

  let status = null, counts = null, failures = 0;

  async function get(url) {
    const r = await fetch(withToken(url), { cache: 'no-store' });
    if (!r.ok) {
      let msg = 'HTTP ' + r.status;
      try { msg = (await r.json()).error || msg; } catch (_) { /* not JSON */ }
      throw new Error(url + ': ' + msg);
    }
    return r.json();
  }

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v; else if (k.startsWith('data-')) e.setAttribute(k, v); else e[k] = v;
    }
    for (const c of children) e.append(c);
    return e;
  }

  function svg(tag, attrs) {
    const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    return e;
  }

  function swatch(color) {
    const i = document.createElement('i');
    i.style.background = color;
    return i;
  }

  const fmt = (n) => Number(n).toLocaleString('en-US');
  function duration(s) {
    const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
    return d ? `${d} d ${h} h` : h ? `${h} h ${m} min` : `${m} min ${s % 60} s`;
  }

  function banner(text) {
    const b = $('banner');
    b.hidden = !text;
    b.textContent = text || '';
  }

  // Today's total of one report column ("door in"); 0 when nothing was counted.
  function today(name) {
    if (!counts) return 0;
    const i = counts.columns.findIndex((c) => c.name === name);
    return i < 0 ? 0 : counts.totals[i];
  }

  function num(value, label, col) {
    const attrs = col ? { 'data-col': col } : {};
    return el('div', { class: 'num' }, el('b', attrs, fmt(value)), el('span', {}, label));
  }

  function renderPlaces() {
    if (!status) return;
    const box = $('places');
    const cards = [];
    for (const l of status.lines) {
      cards.push(el('div', { class: 'place', 'data-place': l.name },
        el('div', { class: 'place-head' }, el('span', { class: 'place-name' }, l.name), el('span', { class: 'kind' }, 'line')),
        el('div', { class: 'nums' },
          num(today(l.name + ' in'), 'in', l.name + ' in'),
          num(today(l.name + ' out'), 'out', l.name + ' out'),
          num(l.in + l.out, 'all time'))));
    }
    for (const z of status.zones) {
      cards.push(el('div', { class: 'place', 'data-place': z.name },
        el('div', { class: 'place-head' }, el('span', { class: 'place-name' }, z.name), el('span', { class: 'kind' }, 'zone')),
        el('div', { class: 'nums' },
          num(z.occupancy, 'inside now'),
          num(today(z.name + ' entries'), 'entries', z.name + ' entries'),
          num(today(z.name + ' exits'), 'exits', z.name + ' exits'),
          num(today(z.name + ' loitering'), 'loitering', z.name + ' loitering'))));
    }
    if (cards.length) box.replaceChildren(...cards);
    if (counts && counts.from) $('counts-range').textContent = counts.from.slice(0, 10) + ' · ' + counts.tz;
  }

  // One stacked bar per hour: each line's crossings and each zone's entries.
  function renderChart() {
    if (!counts || !status) return;
    const places = [...status.lines.map((l) => l.name), ...status.zones.map((z) => z.name)];
    const cols = counts.columns.map((c) => ({ ...c, series: places.indexOf(c.place) }))
      .map((c, i) => ({ ...c, i }))
      .filter((c) => c.series >= 0 && ['in', 'out', 'entries'].includes(c.measure));
    const rows = counts.rows.map((r) => {
      const per = places.map(() => 0);
      for (const c of cols) per[c.series] += r.counts[c.i];
      return { hour: r.start.slice(11, 13), per, total: per.reduce((a, b) => a + b, 0) };
    });
    const W = 1200, H = 220, L = 36, B = 22, T = 8;
    const max = Math.max(1, ...rows.map((r) => r.total));
    const step = Math.max(1, Math.ceil(max / 4));
    const top = step * 4;
    const s = svg('svg', { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none' });
    for (let k = 0; k <= 4; k++) {
      const y = T + (H - T - B) * (1 - k / 4);
      s.append(svg('line', { x1: L, x2: W, y1: y, y2: y, class: 'grid-line' }));
      const t = svg('text', { x: L - 6, y: y + 4, 'text-anchor': 'end' });
      t.textContent = fmt(step * k);
      s.append(t);
    }
    const n = Math.max(rows.length, 1), bw = (W - L) / n;
    rows.forEach((r, i) => {
      const g = svg('g', { 'data-hour': r.hour, 'data-total': r.total });
      let y = H - B;
      r.per.forEach((v, p) => {
        if (!v) return;
        const h = (H - T - B) * v / top;
        y -= h;
        const rect = svg('rect', { x: L + i * bw + bw * 0.15, y, width: bw * 0.7, height: h, rx: 2, fill: COLORS[p % COLORS.length] });
        const tip = svg('title', {});
        tip.textContent = `${r.hour}:00 ${places[p]}: ${v}`;
        rect.append(tip);
        g.append(rect);
      });
      s.append(g);
      if (i % 3 === 0) {
        const t = svg('text', { x: L + i * bw + bw / 2, y: H - 6, 'text-anchor': 'middle' });
        t.textContent = r.hour;
        s.append(t);
      }
    });
    $('chart').replaceChildren(s);
    $('legend').replaceChildren(...places.map((p, i) => el('span', {}, swatch(COLORS[i % COLORS.length]), p)));
  }

  function renderStatus() {
    const s = status;
    const state = s.source.state;
    $('state').dataset.state = state;
    $('state-text').textContent = state;
    $('model-name').textContent = s.model.name.split('/').pop();
    $('clock').textContent = s.clock.now.replace('T', ' ').slice(0, 19) + ' ' + s.clock.tz;
    $('version').textContent = 'v' + s.versions.ssd_edge + ' · ' + s.versions.target;
    const [w, h] = s.source.frame_size;
    $('camera').textContent = `${state} · ${s.source.description}` + (w ? ` · ${w}×${h}` : '');
    $('camera').className = state === 'streaming' ? 'ok' : state === 'reconnecting' ? 'warn' : '';
    $('fps').textContent = s.source.fps.toFixed(1) + ' fps';
    $('inference').textContent = s.stages_ms.forward.toFixed(1) + ' ms (model) · ' +
      (s.stages_ms.preprocess + s.stages_ms.decode + s.stages_ms.track_count).toFixed(1) + ' ms (rest)';
    $('frames').textContent = fmt(s.source.frames);
    $('dropped').textContent = fmt(s.source.dropped) + ' / ' + fmt(s.source.corrupt);
    $('reconnects').textContent = fmt(s.source.reconnects);
    const st = s.store;
    $('store').textContent = st.state === 'none' ? 'no event store' :
      `${st.state} · ${fmt(st.committed || 0)} events written` + (st.write_errors ? ` · ${st.write_errors} write errors` : '');
    $('store').className = st.state === 'ok' ? 'ok' : st.state === 'failing' ? 'bad' : '';
    $('clock-state').textContent = s.clock.state === 'ok' ? 'ok' :
      s.clock.state === 'unset' ? 'not set (before the build date)' : `${s.clock.suspect_events} events with a suspect time`;
    $('clock-state').className = s.clock.state === 'ok' ? 'ok' : 'warn';
    $('model').textContent = `${s.model.name} · ${s.model.input[0]}×${s.model.input[1]} · ${s.model.classes.join(', ')}`;
    $('uptime').textContent = duration(s.uptime_s);
  }

  async function refreshStatus() {
    try {
      status = await get('status');
      failures = 0;
      banner('');
      renderStatus();
      renderPlaces();
      renderChart();
    } catch (e) {
      failures += 1;
      if (failures > 1) {
        $('state').dataset.state = 'offline';
        $('state-text').textContent = 'offline';
        banner('The board does not answer: ' + e.message);
      }
    }
  }

  async function refreshCounts() {
    if (status && !status.lines.length && !status.zones.length) {
      counts = { columns: [], totals: [], rows: [] }; // nothing is counted: nothing to ask
      return;
    }
    try {
      counts = await get(COUNTS);
      renderPlaces();
      renderChart();
    } catch (e) {
      banner('Counts unavailable: ' + e.message);
    }
  }

  function refreshSnapshot() {
    const img = new Image();
    img.onload = () => {
      $('snapshot').src = img.src;
      $('snapshot').parentElement.style.aspectRatio = img.naturalWidth + ' / ' + img.naturalHeight;
      $('snap-info').textContent = 'updated ' + new Date().toLocaleTimeString();
      setTimeout(refreshSnapshot, 2000);
    };
    img.onerror = () => {
      $('snap-info').textContent = 'no frame';
      setTimeout(refreshSnapshot, 5000);
    };
    img.src = withToken('snapshot.jpg?t=' + Date.now());
  }

  (async () => {
    await refreshStatus();
    await refreshCounts();
    document.body.dataset.ready = status && counts ? '1' : 'error';
    setInterval(refreshStatus, 2000);
    setInterval(refreshCounts, 10000);
    refreshSnapshot();
  })();
})();
