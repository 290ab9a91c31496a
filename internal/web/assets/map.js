// /map: a choropleth of one indicator over the grid polygons of one level
// within a parent unit; click a unit to drill down, the breadcrumb to go up.
// The view lives in the URL hash (#ind=residents&level=COMMUNITY&within=340705).
(() => {
  const { h, $, $$, clear, gql, must, dept } = GH;
  const SVG = 'http://www.w3.org/2000/svg';

  const ORDER = ['DISTRICT', 'TOWNSHIP', 'COMMUNITY', 'GRID'];
  const NEXT = { DISTRICT: 'TOWNSHIP', TOWNSHIP: 'COMMUNITY', COMMUNITY: 'GRID' };
  const LEVEL_OF_LENGTH = { 6: 'DISTRICT', 9: 'TOWNSHIP', 12: 'COMMUNITY', 15: 'GRID' };
  const levelOf = (code) => LEVEL_OF_LENGTH[String(code).length];
  // A sequential ramp (light to dark), five classes at most.
  const RAMP = ['#e3f1f4', '#a8d6dd', '#5fb3c4', '#2a86a8', '#0f4f7d'];
  const NODATA = '#e6e9ee';
  const SUPPRESSED = '已抑制 (小于5)';

  const Q_CATALOGUE = `{ indicatorCatalogue { name label department unit definition } }`;
  const Q_UNITS = `query($level: GridLevel!, $within: ID, $after: String) {
    grids(level: $level, within: $within, first: 100, after: $after) {
      nodes { code name level geometry } pageInfo { hasNextPage endCursor } } }`;
  const TABLE = `level within
    rows { unit { code name level } values { name value suppressed } }
    totals { name value suppressed } asOf { department at }`;
  const Q_TABLE = `query($level: GridLevel!, $within: ID, $names: [String!]) {
    indicators(level: $level, within: $within, names: $names) { ${TABLE} } }`;

  const app = $('#app');
  const names = new Map(); // code -> name, for the breadcrumb
  let catalogue = [];
  let view = null; // {ind, level, within}
  let seq = 0;
  let signedIn = false;
  let singleDistrict = false;

  document.addEventListener('gh:unauthenticated', () => {
    if (!signedIn) return;
    signedIn = false;
    GH.setToken('');
    start('登录已失效，请重新登录。');
  });
  window.addEventListener('hashchange', () => { if (signedIn) go(); });
  start();

  async function start(message) {
    clear($('#account'));
    if (GH.token()) {
      try { await loadCatalogue(); } catch (e) { GH.setToken(''); return start(e.message); }
    } else {
      await GH.signIn(app, { title: '登录网格地图', check: loadCatalogue, message });
    }
    signedIn = true;
    GH.account($('#account'), GH.token());
    layout();
    if (!location.hash) {
      // Start where the caller's scope is: its one unit, or the whole area.
      const c = GH.claims(GH.token()) || {};
      const scope = c.scope || [];
      const v = { ind: defaultIndicator() };
      if (scope.length === 1 && levelOf(scope[0])) {
        const s = scope[0];
        v.within = s.length === 15 ? s.slice(0, 12) : s;
        v.level = NEXT[levelOf(v.within)];
      } else {
        v.level = 'DISTRICT';
      }
      setHash(v, true);
    }
    go();
  }

  async function loadCatalogue() {
    const r = await gql(Q_CATALOGUE);
    if (r.errors.length) throw new Error(GH.errorText(r.errors[0]));
    catalogue = r.data.indicatorCatalogue;
  }
  function defaultIndicator() {
    return (catalogue.find((i) => i.name === 'residents') || catalogue[0] || {}).name;
  }
  const indicator = (name) => catalogue.find((i) => i.name === name);

  // ---- the hash ----
  function readHash() {
    const p = new URLSearchParams(location.hash.slice(1));
    const v = { ind: p.get('ind'), within: p.get('within') || null, level: p.get('level') };
    if (!indicator(v.ind)) v.ind = defaultIndicator();
    if (v.within && !levelOf(v.within)) v.within = null;
    if (v.within && levelOf(v.within) === 'GRID') v.within = v.within.slice(0, 12); // a grid: show it among its siblings
    const allowed = v.within ? ORDER.slice(ORDER.indexOf(levelOf(v.within)) + 1) : ['DISTRICT'];
    if (!allowed.includes(v.level)) v.level = allowed[0];
    return v;
  }
  function setHash(v, replace) {
    const p = new URLSearchParams();
    p.set('ind', v.ind);
    p.set('level', v.level);
    if (v.within) p.set('within', v.within);
    const hash = '#' + p.toString();
    if (location.hash === hash) return false;
    if (replace) history.replaceState(null, '', hash); else location.hash = hash;
    return true;
  }
  function navigate(v) { if (!setHash(v)) go(); }

  // ---- the page ----
  function layout() {
    const ind = h('select', { id: 'indicator', 'aria-label': '指标' });
    const groups = new Map();
    for (const i of catalogue) {
      if (!groups.has(i.department)) groups.set(i.department, h('optgroup', { label: dept(i.department) }));
      groups.get(i.department).append(h('option', { value: i.name }, `${i.label}（${i.unit}）`));
    }
    ind.append(...groups.values());
    ind.addEventListener('change', () => navigate({ ...view, ind: ind.value }));
    const level = h('select', { id: 'level', 'aria-label': '层级' });
    level.addEventListener('change', () => navigate({ ...view, level: level.value }));
    const csv = h('button', { type: 'button', class: 'btn secondary', id: 'csv', onclick: downloadCSV }, '下载 CSV');

    clear(app).append(
      h('section', { class: 'card' },
        h('div', { class: 'controls' },
          h('div', { class: 'ctl' }, h('label', { for: 'indicator' }, '指标'), ind),
          h('div', { class: 'ctl level' }, h('label', { for: 'level' }, '显示层级'), level),
          csv),
        h('ol', { class: 'crumbs', id: 'breadcrumb', 'aria-label': '所在位置' })),
      h('div', { class: 'layout' },
        h('section', { class: 'card mapcard', id: 'map-card', dataset: { state: 'loading' } },
          h('div', { class: 'maptitle' }, h('h2', { id: 'map-title' }), h('span', { class: 'scope', id: 'map-scope' })),
          h('div', { class: 'mapwrap', id: 'mapwrap' }),
          h('div', { class: 'notice warn', id: 'map-notice', hidden: true })),
        h('aside', { class: 'panel' },
          h('section', { class: 'card summary', id: 'summary' }),
          h('section', { class: 'card hover', id: 'hover' }),
          h('section', { class: 'card' }, h('h3', {}, '图例'), h('ul', { class: 'legend', id: 'legend' })),
          h('section', { class: 'card' }, h('h3', {}, '数据时间'), h('ul', { class: 'asof', id: 'asof' })))),
      h('section', { class: 'card ranking', id: 'ranking' }));
  }

  async function go() {
    const my = ++seq;
    view = readHash();
    const v = view;
    const ind = indicator(v.ind) || { label: v.ind, unit: '', definition: '' };
    $('#indicator').value = v.ind;
    const levels = v.within ? ORDER.slice(ORDER.indexOf(levelOf(v.within)) + 1) : ['DISTRICT'];
    GH.append(clear($('#level')), levels.map((l) => h('option', { value: l }, GH.LEVELS[l])));
    $('#level').value = v.level;
    $('#level').disabled = levels.length < 2;
    $('#csv').disabled = !v.within;

    const card = $('#map-card');
    card.dataset.state = 'loading';
    card.dataset.level = v.level;
    card.dataset.within = v.within || '';
    $('#map-notice').hidden = true;
    const wrap = $('#mapwrap');
    $$('.overlay', wrap).forEach((o) => o.remove());
    wrap.append(h('div', { class: 'overlay' }, h('span', {}, h('span', { class: 'spinner' }), ' 正在加载…')));

    let units, table, tableError = null;
    try {
      [units, [table, tableError]] = await Promise.all([loadUnits(v), loadTable(v), crumbs(v)]);
    } catch (e) {
      if (my !== seq) return;
      clear(wrap).append(h('div', { class: 'empty' }, e.message));
      card.dataset.state = 'error';
      return;
    }
    if (my !== seq) return;
    if (!v.within && units.length === 1) {
      // One district: start inside it, and leave the whole area out of the
      // breadcrumb (it would only lead back here).
      singleDistrict = true;
      names.set(units[0].code, units[0].name);
      setHash({ ind: v.ind, within: units[0].code, level: 'TOWNSHIP' }, true);
      return go();
    }
    units.forEach((u) => names.set(u.code, u.name));
    await crumbs(v);
    if (my !== seq) return;

    const values = new Map(); // code -> {value, suppressed}
    if (table) {
      for (const row of table.rows) {
        const c = row.values.find((x) => x.name === v.ind);
        if (c) values.set(row.unit.code, c);
      }
    }
    const classes = classify([...values.values()].filter((c) => !c.suppressed && c.value !== null).map((c) => c.value), ind.unit);
    const withinName = v.within ? names.get(v.within) || v.within : '全部区域';
    $('#map-title').textContent = ind.label;
    $('#map-scope').textContent = `${withinName} · 按${GH.LEVELS[v.level]}`;
    if (tableError) {
      const n = $('#map-notice');
      n.textContent = tableError;
      n.hidden = false;
    }
    drawMap(units, values, classes, ind, v);
    drawSummary(ind, table, v, withinName);
    drawLegend(classes, values, units, ind);
    drawAsOf(table);
    drawRanking(units, values, classes, ind, v);
    drawHover(null, ind, v);
    card.dataset.state = 'ready';
  }

  async function loadUnits(v) {
    const out = [];
    let after = null;
    for (let i = 0; i < 100; i++) {
      const d = await must(Q_UNITS, { level: v.level, within: v.within, after });
      out.push(...d.grids.nodes);
      if (!d.grids.pageInfo.hasNextPage) break;
      after = d.grids.pageInfo.endCursor;
    }
    return out;
  }

  // loadTable answers [table, error text]: a caller may see the boundaries
  // but not the figures, and the map still draws.
  async function loadTable(v) {
    let r;
    if (v.within) {
      r = await gql(Q_TABLE, { level: v.level, within: v.within, names: [v.ind] });
      if (r.errors.length) return [null, tableErrorText(r.errors[0])];
      return [r.data.indicators, null];
    }
    // The whole area: one table per district (indicators need a within).
    const ds = await loadUnits({ level: 'DISTRICT', within: null });
    if (!ds.length) return [null, null];
    const q = 'query($names: [String!]) { ' + ds.map((d, i) =>
      `t${i}: indicators(level: DISTRICT, within: ${JSON.stringify(d.code)}, names: $names) { ${TABLE} }`).join(' ') + ' }';
    r = await gql(q, { names: [v.ind] });
    const tables = ds.map((_, i) => r.data && r.data['t' + i]).filter(Boolean);
    if (!tables.length) return [null, r.errors.length ? tableErrorText(r.errors[0]) : null];
    const merged = { rows: tables.flatMap((t) => t.rows), totals: [], asOf: tables[0].asOf };
    return [merged, r.errors.length ? '部分区县的数据不在你的权限范围内。' : null];
  }
  function tableErrorText(e) {
    if (GH.code(e) === 'FORBIDDEN') return '此范围的统计数据不在你的权限范围内，只显示边界。';
    return GH.errorText(e);
  }

  // crumbs draws the breadcrumb, naming the ancestors it does not know yet.
  async function crumbs(v) {
    const codes = [];
    if (v.within) for (const n of [6, 9, 12, 15]) if (n <= v.within.length) codes.push(v.within.slice(0, n));
    const unknown = codes.filter((c) => !names.has(c));
    if (unknown.length) {
      const q = '{ ' + unknown.map((c, i) => `u${i}: grid(code: ${JSON.stringify(c)}) { code name }`).join(' ') + ' }';
      const r = await gql(q).catch(() => null);
      if (r && r.data) unknown.forEach((c, i) => { const u = r.data['u' + i]; if (u) names.set(u.code, u.name); });
    }
    const ol = clear($('#breadcrumb'));
    const item = (label, target, current) => h('li', {}, current
      ? h('span', { 'aria-current': 'location' }, label)
      : h('button', { type: 'button', dataset: { code: target || '' }, onclick: () => navigate(target
        ? { ind: view.ind, within: target, level: NEXT[levelOf(target)] }
        : { ind: view.ind, level: 'DISTRICT' }) }, label));
    if (!singleDistrict || !v.within) ol.append(item('全部区域', null, !v.within));
    codes.forEach((c, i) => ol.append(item(names.get(c) || c, c, i === codes.length - 1)));
  }

  // ---- classes ----
  // classify cuts the values into at most five classes at quantiles, rounded
  // to two significant figures (one decimal for rates).
  function classify(vals, unit) {
    if (!vals.length) return { edges: [], colors: [] };
    vals = [...vals].sort((a, b) => a - b);
    const lo = vals[0], hi = vals[vals.length - 1];
    const distinct = new Set(vals).size;
    const n = Math.min(RAMP.length, distinct);
    const round = (x) => {
      if (unit === '%') return Math.round(x * 10) / 10;
      if (Math.abs(x) < 100) return Math.round(x);
      const p = 10 ** (Math.floor(Math.log10(Math.abs(x))) - 1);
      return Math.round(x / p) * p;
    };
    const inner = [];
    for (let i = 1; i < n; i++) {
      const b = round(vals[Math.floor((i * vals.length) / n)]);
      if (b > lo && b <= hi && (!inner.length || b > inner[inner.length - 1])) inner.push(b);
    }
    const edges = [lo, ...inner, hi];
    const k = edges.length - 1 || 1;
    // Spread the classes over the ramp, darkest for the highest.
    const colors = Array.from({ length: k }, (_, i) => RAMP[k === 1 ? RAMP.length - 2 : Math.round((i * (RAMP.length - 1)) / (k - 1))]);
    return { edges, colors };
  }
  function classOf(classes, value) {
    const { edges } = classes;
    for (let i = 1; i < edges.length - 1; i++) if (value < edges[i]) return i - 1;
    return Math.max(0, edges.length - 2);
  }
  function fillOf(classes, cell) {
    if (!cell) return NODATA;
    if (cell.suppressed) return 'url(#hatch)';
    if (cell.value === null || cell.value === undefined || !classes.edges.length) return NODATA;
    return classes.colors[classOf(classes, cell.value)];
  }
  const valueText = (cell, ind) => !cell ? '无数据' : cell.suppressed ? SUPPRESSED : GH.fmtNumber(cell.value, ind.unit) + ' ' + ind.unit;

  // ---- the map ----
  function s(tag, attrs, ...children) {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) el.setAttribute(k, v);
    children.flat().forEach((c) => c && el.append(c));
    return el;
  }
  function rings(geometry) {
    let g = geometry;
    if (typeof g === 'string') { try { g = JSON.parse(g); } catch (e) { return []; } }
    if (!g) return [];
    if (g.type === 'Polygon') return g.coordinates;
    if (g.type === 'MultiPolygon') return g.coordinates.flat();
    return [];
  }
  function hatch(id) {
    return s('pattern', { id, patternUnits: 'userSpaceOnUse', width: 7, height: 7, patternTransform: 'rotate(45)' },
      s('rect', { width: 7, height: 7, fill: '#eef0f3' }),
      s('line', { x1: 0, y1: 0, x2: 0, y2: 7, stroke: '#9aa3ae', 'stroke-width': 2.2 }));
  }

  function drawMap(units, values, classes, ind, v) {
    const wrap = clear($('#mapwrap'));
    const shapes = units.map((u) => ({ u, rings: rings(u.geometry) })).filter((x) => x.rings.length);
    if (!shapes.length) {
      wrap.append(h('div', { class: 'empty', id: 'map-empty' }, '此范围内没有可显示的单位。'));
      return;
    }
    // Project lon/lat linearly, shrinking longitude by cos(latitude) at the
    // middle of the view so that shapes keep their proportions.
    let minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
    for (const sh of shapes) for (const ring of sh.rings) for (const [x, y] of ring) {
      if (x < minX) minX = x; if (x > maxX) maxX = x;
      if (y < minY) minY = y; if (y > maxY) maxY = y;
    }
    const k = Math.cos(((minY + maxY) / 2) * Math.PI / 180);
    const W = 1000, pad = 12;
    const spanX = Math.max((maxX - minX) * k, 1e-9), spanY = Math.max(maxY - minY, 1e-9);
    const scale = (W - 2 * pad) / spanX;
    const H = Math.max(Math.round(spanY * scale + 2 * pad), 200);
    const offY = (H - spanY * scale) / 2;
    const px = (x) => ((x - minX) * k * scale + pad).toFixed(1);
    const py = (y) => ((maxY - y) * scale + offY).toFixed(1);

    const leaf = v.level === 'GRID';
    const svg = s('svg', {
      id: 'map', class: 'map' + (leaf ? ' leaf' : ''), viewBox: `0 0 ${W} ${H}`, role: 'img',
      'aria-label': `${ind.label}：${units.length} 个${GH.LEVELS[v.level]}`, preserveAspectRatio: 'xMidYMid meet',
    }, s('defs', {}, hatch('hatch')));
    const g = s('g', { class: 'units' });
    const labels = s('g', { class: 'labels' });
    const outline = s('path', { class: 'outline', d: '' });
    const tip = h('div', { class: 'tip', id: 'tip', hidden: true });
    const showLabels = shapes.length <= 120;
    // Labels 13 CSS pixels high, whatever the scale the SVG is drawn at
    // (its width, or 74vh of height, whichever binds).
    const shown = Math.min(Math.max(wrap.clientWidth || 800, 280) / W, (innerHeight * (innerWidth <= 560 ? 0.6 : 0.74)) / H);
    const fontSize = 13 / shown;

    for (const { u, rings: rs } of shapes) {
      const d = rs.map((r) => 'M' + r.map(([x, y]) => px(x) + ',' + py(y)).join('L') + 'Z').join('');
      const cell = values.get(u.code);
      const path = s('path', {
        class: 'unit', d, fill: fillOf(classes, cell), 'fill-rule': 'evenodd',
        'data-code': u.code, 'data-name': u.name,
        'data-value': cell && !cell.suppressed && cell.value !== null ? cell.value : '',
        'data-suppressed': cell && cell.suppressed ? 'true' : 'false',
        tabindex: leaf ? null : '0',
      }, s('title', {}, `${u.name}：${valueText(cell, ind)}`));
      const enter = (ev) => {
        outline.setAttribute('d', d);
        drawHover(u, ind, v, cell);
        tip.hidden = false;
        clear(tip).append(h('div', { class: 't-name' }, u.name), h('div', { class: 't-val' }, valueText(cell, ind)),
          leaf ? null : h('div', { class: 't-hint' }, '点击查看下一级'));
        if (ev) place(ev);
      };
      const place = (ev) => {
        const r = wrap.getBoundingClientRect();
        let x = ev.clientX - r.left + 14, y = ev.clientY - r.top + 14;
        if (x + tip.offsetWidth > r.width - 4) x = ev.clientX - r.left - tip.offsetWidth - 14;
        if (y + tip.offsetHeight > r.height - 4) y = ev.clientY - r.top - tip.offsetHeight - 14;
        tip.style.left = Math.max(4, x) + 'px';
        tip.style.top = Math.max(4, y) + 'px';
      };
      path.addEventListener('mouseenter', enter);
      path.addEventListener('mousemove', place);
      path.addEventListener('mouseleave', () => { tip.hidden = true; outline.setAttribute('d', ''); });
      path.addEventListener('focus', () => { outline.setAttribute('d', d); drawHover(u, ind, v, cell); });
      path.addEventListener('blur', () => outline.setAttribute('d', ''));
      if (!leaf) {
        path.addEventListener('click', () => drill(u));
        path.addEventListener('keydown', (ev) => { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); drill(u); } });
      }
      g.append(path);

      if (showLabels) {
        // Label at the middle of the largest ring's bounds.
        const ring = rs.reduce((a, b) => (b.length > a.length ? b : a));
        let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
        for (const [x, y] of ring) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
        const cx = px((x0 + x1) / 2), cy = Number(py((y0 + y1) / 2));
        const wpx = (x1 - x0) * k * scale, hpx = (y1 - y0) * scale;
        const name = labelName(u.name, v);
        const val = cell && !cell.suppressed && cell.value !== null ? GH.fmtNumber(cell.value, ind.unit) : cell && cell.suppressed ? '<5' : '';
        // Only where it fits: a CJK character is about 1em wide, a digit 0.6em.
        const need = Math.max(name.length, val.length * 0.6) * fontSize + fontSize * 0.8;
        if (wpx > need && hpx > fontSize * 3) {
          labels.append(s('text', { x: cx, y: cy - fontSize * 0.2, 'text-anchor': 'middle', 'font-size': fontSize.toFixed(1), 'stroke-width': (fontSize / 4).toFixed(1) },
            s('tspan', { x: cx }, name),
            s('tspan', { x: cx, dy: (fontSize * 1.2).toFixed(1), class: 'v' }, val)));
        }
      }
    }
    svg.append(g, labels, outline);
    svg.addEventListener('mouseleave', () => drawHover(null, ind, v));
    wrap.append(svg, tip);
  }
  // shortName drops the committee suffixes of NBS names (开源社区居委会 -> 开源社区).
  function shortName(n) {
    return n.replace(/(居民委员会|村民委员会|居委会|村委会)$/, '');
  }
  // labelName is what a unit is called on the map: without its parent's name
  // where it repeats it (开源社区第5网格 within 开源社区 -> 第5网格).
  function labelName(n, v) {
    n = shortName(n);
    const parent = v.within && names.get(v.within) ? shortName(names.get(v.within)) : '';
    return parent && n.startsWith(parent) && n.length > parent.length ? n.slice(parent.length) : n;
  }
  function drill(u) {
    names.set(u.code, u.name);
    const next = NEXT[levelOf(u.code)];
    if (!next) return;
    navigate({ ind: view.ind, within: u.code, level: next });
  }

  // ---- the panel ----
  function drawSummary(ind, table, v, withinName) {
    const el = clear($('#summary'));
    const total = table && table.totals && table.totals.find((t) => t.name === ind.name);
    el.append(
      h('h3', {}, '当前指标'),
      h('div', { class: 'ind' }, ind.label),
      h('div', { class: 'def' }, ind.definition || ''),
      total ? h('div', { class: 'total', id: 'total' },
        h('span', { class: 'num' }, total.suppressed ? '—' : GH.fmtNumber(total.value, ind.unit)),
        h('span', { class: 'lbl' }, `${ind.unit} · ${withinName}合计`)) : null);
  }
  function drawHover(u, ind, v, cell) {
    const el = clear($('#hover'));
    el.append(h('h3', {}, '所选单位'));
    if (!u) {
      const touch = matchMedia('(hover: none)').matches;
      const look = touch ? '点击网格查看数值。' : '将鼠标移到网格上查看数值。';
      el.append(h('div', { class: 'h-hint' }, v.level === 'GRID' ? look : touch
        ? `点击区域进入下一级（${GH.LEVELS[NEXT[v.level]]}），各单位数值见下方列表。`
        : `将鼠标移到区域上查看数值，点击进入下一级（${GH.LEVELS[NEXT[v.level]]}）。`));
      return;
    }
    el.append(h('div', { class: 'h-name' }, u.name), h('div', { class: 'h-code' }, u.code),
      h('div', { class: 'h-val' }, valueText(cell, ind)));
  }
  function swatch(fill) {
    return s('svg', { width: 22, height: 14, viewBox: '0 0 22 14', 'aria-hidden': 'true' },
      s('rect', { width: 22, height: 14, fill }));
  }
  function drawLegend(classes, values, units, ind) {
    const el = clear($('#legend'));
    const counts = new Array(classes.colors.length).fill(0);
    let suppressed = 0, none = 0;
    for (const u of units) {
      const c = values.get(u.code);
      if (!c || (!c.suppressed && c.value === null)) none++;
      else if (c.suppressed) suppressed++;
      else counts[classOf(classes, c.value)]++;
    }
    const f = (x) => GH.fmtNumber(x, ind.unit);
    classes.colors.forEach((color, i) => {
      const a = classes.edges[i], b = classes.edges[i + 1];
      const label = a === b ? f(a) : `${f(a)} – ${f(b)}`;
      el.append(h('li', { class: 'legend-item', dataset: { kind: 'class' } }, swatch(color), `${label} ${ind.unit}`, h('span', { class: 'n' }, counts[i] + ' 个')));
    });
    el.append(h('li', { class: 'legend-item', dataset: { kind: 'suppressed' } }, swatch('url(#hatch)'), SUPPRESSED, h('span', { class: 'n' }, suppressed + ' 个')));
    if (none) el.append(h('li', { class: 'legend-item', dataset: { kind: 'none' } }, swatch(NODATA), '无数据', h('span', { class: 'n' }, none + ' 个')));
  }
  function drawAsOf(table) {
    const el = clear($('#asof'));
    if (!table || !table.asOf || !table.asOf.length) { el.append(h('li', { class: 'muted' }, '—')); return; }
    for (const a of table.asOf) {
      el.append(h('li', { dataset: { department: a.department } },
        h('span', { class: 'd' }, dept(a.department)),
        h('span', { class: 't' }, a.at ? GH.fmtTime(a.at) : '尚未同步')));
    }
  }
  function drawRanking(units, values, classes, ind, v) {
    const el = clear($('#ranking'));
    const rows = units.map((u) => ({ u, c: values.get(u.code) }));
    const val = (r) => (r.c && !r.c.suppressed && r.c.value !== null ? r.c.value : -Infinity);
    rows.sort((a, b) => val(b) - val(a) || a.u.code.localeCompare(b.u.code));
    const max = Math.max(...rows.map(val).filter(Number.isFinite), 0);
    const leaf = v.level === 'GRID';
    el.append(h('h3', {}, `各${GH.LEVELS[v.level]}${ind.label}（${units.length} 个）`),
      h('div', { class: 'scroll' }, h('table', {},
        h('thead', {}, h('tr', {}, h('th', {}, '#'), h('th', {}, '单位'), h('th', { class: 'code' }, '代码'), h('th', { class: 'num' }, `${ind.label}（${ind.unit}）`))),
        h('tbody', {}, rows.map((r, i) => {
          const x = val(r);
          return h('tr', { dataset: { code: r.u.code }, onclick: leaf ? null : () => drill(r.u) },
            h('td', { class: 'muted' }, String(i + 1)),
            h('td', {}, h('span', { class: 'sw', style: null }), r.u.name),
            h('td', { class: 'code mono small muted' }, r.u.code),
            h('td', { class: 'num' }, valueText(r.c, ind).replace(' ' + ind.unit, ''),
              Number.isFinite(x) && max > 0 ? barOf(x / max) : null));
        })))));
    // Colour the swatches through the CSSOM (the page's policy allows no
    // inline style attributes).
    $$('tbody tr', el).forEach((tr, i) => { $('.sw', tr).style.background = fillOf(classes, rows[i].c).startsWith('url') ? '#c3c9d1' : fillOf(classes, rows[i].c); });
  }
  function barOf(f) {
    const b = h('span', { class: 'bar' });
    b.style.width = Math.max(2, Math.round(f * 100)) + '%';
    return b;
  }

  // downloadCSV fetches the export with the bearer token (a plain link could
  // not carry it) and saves it.
  async function downloadCSV() {
    const v = view;
    if (!v || !v.within) return;
    const q = new URLSearchParams({ level: v.level, within: v.within, names: v.ind });
    const btn = $('#csv');
    btn.disabled = true;
    try {
      await GH.fresh();
      const r = await fetch('/export/indicators.csv?' + q, { headers: { Authorization: 'Bearer ' + GH.token() } });
      if (!r.ok) {
        let msg = 'HTTP ' + r.status;
        try { const b = await r.json(); if (b.errors) msg = GH.errorText(b.errors[0]); } catch (e) { /* not JSON */ }
        throw new Error(msg);
      }
      const blob = await r.blob();
      const a = h('a', { href: URL.createObjectURL(blob), download: `indicators-${v.ind}-${v.level.toLowerCase()}-${v.within}.csv` });
      document.body.append(a);
      a.click();
      setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
    } catch (e) {
      const n = $('#map-notice');
      n.textContent = '下载失败：' + e.message;
      n.hidden = false;
    } finally {
      btn.disabled = false;
    }
  }
})();
