/**
 * The dashboard's script, served as `/dashboard/dashboard.js`: plain browser JavaScript, no bundler. It signs in with
 * an API key (HTTP Basic user, as Segment keys are sent) or an OAuth access token (Bearer), keeps it in sessionStorage,
 * reads the `/v1/reports/*` JSON API and draws it with ECharts. A TypeScript string so `tsc` ships it with the service;
 * it holds no backtick and no dollar-brace, so String.raw passes it through unchanged.
 */
export const DASHBOARD_SCRIPT = String.raw`
(function () {
  'use strict';

  var STORAGE_KEY = 'tributary.dashboard.credential';
  var PAGES = ['funnel', 'attribution', 'journeys', 'health'];
  var MODELS = ['first_touch', 'last_touch', 'linear', 'time_decay', 'position_based'];
  var MODEL_NAMES = {
    first_touch: 'First touch',
    last_touch: 'Last touch',
    linear: 'Linear',
    time_decay: 'Time decay',
    position_based: 'Position based',
  };
  var STAGE_NAMES = {
    subscriber: 'Subscriber',
    lead: 'Lead',
    mql: 'MQL',
    sql: 'SQL',
    opportunity: 'Opportunity',
    customer: 'Customer',
  };
  /** One colour per stage, the same in the funnel and its trend whichever stages a range holds. */
  var STAGE_COLORS = {
    subscriber: '#8fa3c8',
    lead: '#2f6fdb',
    mql: '#7b4fd6',
    sql: '#e08a1e',
    opportunity: '#1b9aaa',
    customer: '#2e9e4f',
  };
  var DAY_MS = 86400000;

  var settings = null;
  /** Per page, the number of the newest load: an older answer arriving late is dropped. */
  var loads = {};
  var seenConversions = {};

  // ---- small helpers -------------------------------------------------------------------------------------------

  function $(selector, root) {
    return (root || document).querySelector(selector);
  }

  function $all(selector, root) {
    return Array.prototype.slice.call((root || document).querySelectorAll(selector));
  }

  /** Builds an element; text goes in as text, never as HTML (channel and journey names come from customers). */
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value === undefined || value === null || value === false) return;
      if (name === 'text') node.textContent = String(value);
      else if (name === 'className') node.className = value;
      else node.setAttribute(name, String(value));
    });
    (children || []).forEach(function (child) {
      if (child !== null && child !== undefined) node.appendChild(child);
    });
    return node;
  }

  function count(n) {
    return n === null || n === undefined ? '—' : String(n);
  }

  function percent(r) {
    return r === null || r === undefined ? '—' : (r * 100).toFixed(1) + '%';
  }

  function decimal(x) {
    return x === null || x === undefined ? '—' : x.toFixed(2);
  }

  function duration(ms) {
    if (ms === null || ms === undefined) return '—';
    if (ms < 1000) return Math.round(ms) + ' ms';
    if (ms < 60000) return (ms / 1000).toFixed(1) + ' s';
    if (ms < 3600000) return (ms / 60000).toFixed(1) + ' min';
    if (ms < DAY_MS) return (ms / 3600000).toFixed(1) + ' h';
    return (ms / DAY_MS).toFixed(1) + ' d';
  }

  function ago(iso, now) {
    return iso ? duration(now - Date.parse(iso)) + ' ago' : 'never';
  }

  /** A table cell holding a number: the API's raw value in data-value, formatted for people in its text. */
  function num(column, value, format) {
    return el('td', {
      'data-testid': column,
      'data-value': value === null || value === undefined ? '' : value,
      text: format(value),
    });
  }

  function text(column, value) {
    return el('td', { 'data-testid': column, className: 'text', text: value === null ? '—' : value });
  }

  function fill(table, rows, emptyText, columns) {
    var body = $('tbody', table);
    body.replaceChildren.apply(body, rows);
    if (rows.length === 0)
      body.appendChild(el('tr', { className: 'empty' }, [el('td', { colspan: columns, text: emptyText })]));
  }

  function chart(testId) {
    var node = $('[data-testid="' + testId + '"]');
    return window.echarts.getInstanceByDom(node) || window.echarts.init(node, null, { renderer: 'canvas' });
  }

  /** A chart with nothing to draw says so instead of showing bare axes. */
  function emptyTitle(empty, words) {
    return {
      show: empty,
      text: words,
      left: 'center',
      top: 'middle',
      textStyle: { color: '#5b6474', fontSize: 14, fontWeight: 'normal' },
    };
  }

  function base64(value) {
    var bytes = new TextEncoder().encode(value);
    var binary = '';
    bytes.forEach(function (b) {
      binary += String.fromCharCode(b);
    });
    return btoa(binary);
  }

  // ---- the credential and the API ------------------------------------------------------------------------------

  function credential() {
    try {
      var stored = JSON.parse(sessionStorage.getItem(STORAGE_KEY) || 'null');
      return stored && typeof stored.secret === 'string' ? stored : null;
    } catch (e) {
      return null;
    }
  }

  function ApiError(status, body) {
    this.status = status;
    this.body = body;
    this.message = 'HTTP ' + status;
  }

  function api(path) {
    var held = credential();
    if (!held) return Promise.reject(new ApiError(401, { reason: 'not signed in' }));
    var authorization =
      held.kind === 'token' ? 'Bearer ' + held.secret : 'Basic ' + base64(held.secret + ':');
    return fetch(path, { headers: { authorization: authorization, accept: 'application/json' } }).then(
      function (res) {
        return res.text().then(function (body) {
          var parsed;
          try {
            parsed = JSON.parse(body);
          } catch (e) {
            parsed = { reason: body };
          }
          if (!res.ok) throw new ApiError(res.status, parsed);
          return parsed;
        });
      },
    );
  }

  /** What went wrong, in words a marketer can act on. */
  function describe(error) {
    if (!(error instanceof ApiError)) return 'The reporting API could not be reached (' + error.message + ').';
    var body = error.body || {};
    var reason = body.reason || (body.message && String(body.message)) || body.error || '';
    if (error.status === 401)
      return 'This key or token was refused (' + (reason || 'unauthorized') + '). Check it and sign in again.';
    if (error.status === 403)
      return 'This key may not read reports (' + (reason || 'forbidden') + '): it needs the reports:read scope.';
    if (error.status === 429) return 'Too many attempts: wait a moment and try again.';
    if (error.status === 400 && Array.isArray(body.errors))
      return (
        'The filters were refused: ' +
        body.errors
          .map(function (e) {
            return e.field + ' ' + e.reason;
          })
          .join('; ')
      );
    return 'The reporting API answered ' + error.status + (reason ? ': ' + reason : '') + '.';
  }

  // ---- filters -------------------------------------------------------------------------------------------------

  /** Today in the workspace's zone, as YYYY-MM-DD. */
  function today(zone) {
    return new Intl.DateTimeFormat('en-CA', {
      timeZone: zone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
    }).format(new Date());
  }

  function daysBefore(day, days) {
    return new Date(Date.parse(day + 'T00:00:00Z') - days * DAY_MS).toISOString().slice(0, 10);
  }

  function field(name) {
    return $('#filters [name="' + name + '"]');
  }

  function value(name) {
    return field(name).value.trim();
  }

  function query(params) {
    var parts = [];
    params.forEach(function (pair) {
      if (pair[1] !== '' && pair[1] !== undefined && pair[1] !== null)
        parts.push(encodeURIComponent(pair[0]) + '=' + encodeURIComponent(pair[1]));
    });
    return parts.length ? '?' + parts.join('&') : '';
  }

  function rangeParams(withGrain) {
    var params = [
      ['from', value('from')],
      ['to', value('to')],
    ];
    if (withGrain) params.push(['grain', value('grain')]);
    return params;
  }

  function options(listId, values) {
    var list = document.getElementById(listId);
    var unique = Array.from(new Set(values.filter(Boolean))).sort();
    list.replaceChildren.apply(
      list,
      unique.map(function (v) {
        return el('option', { value: v });
      }),
    );
  }

  // ---- pages ---------------------------------------------------------------------------------------------------

  function renderFunnel(report, routing, section) {
    var stages = report.stages;
    fill(
      $('[data-testid="funnel-table"]', section),
      stages.map(function (s) {
        return el('tr', { 'data-testid': 'funnel-row', 'data-key': s.stage }, [
          text('stage', STAGE_NAMES[s.stage] || s.stage),
          num('entered', s.entered, count),
          num('advanced', s.advanced, count),
          num('conversionRate', s.conversionRate, percent),
          num('medianDays', s.daysToAdvance.median, decimal),
          num('meanDays', s.daysToAdvance.mean, decimal),
          num('current', s.current, count),
        ]);
      }),
      'No stages.',
      7,
    );
    fill(
      $('[data-testid="routing-table"]', section),
      routing.items.map(function (r) {
        return el('tr', { 'data-testid': 'routing-row', 'data-key': r.ownerId + '|' + r.teamId }, [
          text('ownerId', r.ownerId),
          text('teamId', r.teamId),
          num('assigned', r.assigned, count),
          num('accepted', r.accepted, count),
          num('breached', r.breached, count),
          num('breachRate', r.breachRate, percent),
          num('meanMinutesToAccept', r.meanMinutesToAccept, decimal),
        ]);
      }),
      'No lead was assigned in this range.',
      7,
    );
    // Only stages somebody entered: an empty stage between two full ones would pinch the funnel shut.
    var entered = stages.filter(function (s) {
      return s.entered > 0;
    });
    chart('chart-funnel').setOption(
      {
        animation: false,
        title: emptyTitle(entered.length === 0, 'Nobody entered a stage in this range'),
        tooltip: { trigger: 'item' },
        series: [
          {
            type: 'funnel',
            sort: 'none',
            minSize: '8%',
            label: { show: true, position: 'inside', formatter: '{b}: {c}' },
            data: entered.map(function (s) {
              return {
                name: STAGE_NAMES[s.stage] || s.stage,
                value: s.entered,
                itemStyle: { color: STAGE_COLORS[s.stage] },
              };
            }),
          },
        ],
      },
      true,
    );
    var shown = stages.map(function (s) {
      return s.stage;
    });
    drawTrend(
      'chart-funnel-trend',
      report.trend,
      report.range.grain,
      'No stage entered in this range',
      shown.map(function (stage) {
        return {
          name: STAGE_NAMES[stage] || stage,
          type: 'bar',
          stack: 'entered',
          itemStyle: { color: STAGE_COLORS[stage] },
          data: report.trend.map(function (row) {
            return row.entered[stage] || 0;
          }),
        };
      }),
    );
  }

  /** A chart over a report's time buckets (an hour or a day each), one series per thing counted. */
  function drawTrend(id, buckets, grain, emptyWords, series) {
    chart(id).setOption(
      {
        animation: false,
        title: emptyTitle(buckets.length === 0, emptyWords),
        tooltip: { trigger: 'axis' },
        legend: { top: 0 },
        grid: { left: 40, right: 16, top: 40, bottom: 30 },
        xAxis: {
          type: 'category',
          data: buckets.map(function (row) {
            return row.bucket.slice(0, grain === 'hour' ? 16 : 10).replace('T', ' ');
          }),
        },
        yAxis: { type: 'value', minInterval: 1 },
        series: series,
      },
      true,
    );
  }

  function loadFunnel(section) {
    var params = rangeParams(true).concat([
      ['source', value('source')],
      ['medium', value('medium')],
      ['campaign', value('campaign')],
      ['ownerId', value('ownerId')],
    ]);
    var path = '/v1/reports/funnel' + query(params);
    return Promise.all([
      api(path),
      api('/v1/reports/routing' + query(rangeParams(false).concat([['limit', '1000']]))),
    ]).then(function (answers) {
      renderFunnel(answers[0], answers[1], section);
      options(
        'owners',
        answers[1].items.map(function (r) {
          return r.ownerId;
        }),
      );
      return path;
    });
  }

  function loadAttribution(section) {
    var params = rangeParams(false).concat([
      ['conversion', value('conversion')],
      ['lookbackDays', value('lookbackDays')],
      ['halfLifeDays', value('halfLifeDays')],
    ]);
    var path = '/v1/reports/attribution' + query(params);
    return api(path).then(function (report) {
      var kinds = Object.keys(report.conversions).sort();
      var total = kinds.reduce(function (sum, kind) {
        return sum + report.conversions[kind];
      }, 0);
      var conversions = $('[data-testid="attribution-conversions"]', section);
      conversions.textContent = count(total);
      conversions.setAttribute('data-value', total);
      var revenue = $('[data-testid="attribution-revenue"]', section);
      revenue.textContent = decimal(report.revenue);
      revenue.setAttribute('data-value', report.revenue);
      $('[data-testid="attribution-lookback"]', section).textContent = report.settings.lookbackDays + ' days';
      $('[data-testid="attribution-half-life"]', section).textContent = report.settings.halfLifeDays + ' days';
      field('lookbackDays').placeholder = String(report.settings.lookbackDays);
      field('halfLifeDays').placeholder = String(report.settings.halfLifeDays);
      var list = $('[data-testid="attribution-kinds"]', section);
      list.replaceChildren.apply(
        list,
        kinds.map(function (kind) {
          seenConversions[kind] = true;
          return el('li', { 'data-testid': 'attribution-kind', 'data-key': kind }, [
            document.createTextNode(kind + ': '),
            el('span', {
              'data-testid': 'conversions',
              'data-value': report.conversions[kind],
              text: count(report.conversions[kind]),
            }),
          ]);
        }),
      );
      var select = field('conversion');
      var chosen = select.value;
      select.replaceChildren.apply(
        select,
        [el('option', { value: '', text: 'all' })].concat(
          Object.keys(seenConversions)
            .sort()
            .map(function (kind) {
              return el('option', { value: kind, text: kind, selected: kind === chosen ? 'selected' : null });
            }),
        ),
      );
      select.value = chosen;

      var models = report.models;
      var head = $('[data-testid="attribution-table"] thead', section);
      head.replaceChildren(
        el(
          'tr',
          {},
          [el('th', { text: 'Channel' })]
            .concat(
              models.map(function (m) {
                return el('th', { text: 'Credit: ' + (MODEL_NAMES[m] || m) });
              }),
            )
            .concat(
              models.map(function (m) {
                return el('th', { text: 'Revenue: ' + (MODEL_NAMES[m] || m) });
              }),
            ),
        ),
      );
      fill(
        $('[data-testid="attribution-table"]', section),
        report.channels.map(function (row) {
          return el(
            'tr',
            { 'data-testid': 'attribution-row', 'data-key': row.channel },
            [text('channel', row.channel)]
              .concat(
                models.map(function (m) {
                  return num('credit-' + m, row.credit[m], decimal);
                }),
              )
              .concat(
                models.map(function (m) {
                  return num('revenue-' + m, row.revenue[m], decimal);
                }),
              ),
          );
        }),
        'No conversion in this range.',
        1 + 2 * models.length,
      );
      chart('chart-attribution').setOption(
        {
          animation: false,
          title: emptyTitle(report.channels.length === 0, 'No conversion in this range'),
          tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' } },
          legend: { top: 0 },
          grid: { left: 48, right: 16, top: 40, bottom: 60 },
          xAxis: {
            type: 'category',
            axisLabel: { interval: 0, rotate: report.channels.length > 5 ? 20 : 0 },
            data: report.channels.map(function (row) {
              return row.channel;
            }),
          },
          yAxis: { type: 'value', name: 'conversions' },
          series: models.map(function (m) {
            return {
              name: MODEL_NAMES[m] || m,
              type: 'bar',
              data: report.channels.map(function (row) {
                return row.credit[m];
              }),
            };
          }),
        },
        true,
      );
      return path;
    });
  }

  function loadJourneys(section) {
    var filter = [
      ['journeyId', value('journeyId')],
      ['channel', value('channel')],
    ];
    var path = '/v1/reports/journeys' + query(rangeParams(false).concat(filter, [['limit', '1000']]));
    var trendPath = '/v1/reports/journeys/trend' + query(rangeParams(true).concat(filter));
    return Promise.all([api(path), api(trendPath)]).then(function (answers) {
      var table = answers[0];
      var trend = answers[1];
      fill(
        $('[data-testid="journeys-table"]', section),
        table.items.map(function (r) {
          var key = [r.level, r.journeyId, r.stepId || '', r.channel || ''].join('|');
          return el('tr', { 'data-testid': 'journey-row', 'data-key': key, className: r.level }, [
            text('journeyId', r.journeyId),
            text('stepId', r.level === 'journey' ? 'all steps' : r.stepId),
            text('channel', r.level === 'journey' ? 'all' : r.channel),
            num('enrolled', r.enrolled, count),
            num('converted', r.converted, count),
            num('sent', r.sent, count),
            num('skipped', r.skipped, count),
            num('failed', r.failed, count),
            num('delivered', r.delivered, count),
            num('bounced', r.bounced, count),
            num('opened', r.opened, count),
            num('clicked', r.clicked, count),
            num('unsubscribed', r.unsubscribed, count),
            num('deliveryRate', r.deliveryRate, percent),
            num('openRate', r.openRate, percent),
            num('clickRate', r.clickRate, percent),
            num('conversionRate', r.conversionRate, percent),
          ]);
        }),
        'No journey sent anything in this range.',
        17,
      );
      options(
        'journey-ids',
        table.items.map(function (r) {
          return r.journeyId;
        }),
      );
      var metrics = ['enrolled', 'sent', 'delivered', 'opened', 'clicked', 'converted'];
      drawTrend(
        'chart-journeys-trend',
        trend.buckets,
        trend.range.grain,
        'No journey activity in this range',
        metrics.map(function (m) {
          return {
            name: m,
            type: 'line',
            data: trend.buckets.map(function (b) {
              return b[m];
            }),
          };
        }),
      );
      return path;
    });
  }

  function badge(label, kind, testId) {
    return el('span', { className: 'badge ' + kind, 'data-testid': testId, text: label });
  }

  function renderHealth(report, quality, section) {
    var now = Date.parse(report.generatedAt);
    $('[data-testid="health-generated"]', section).textContent = report.generatedAt;
    var alerts = [];
    report.connections.forEach(function (c) {
      if (!c.stalled) return;
      alerts.push(
        el('p', { className: 'error', 'data-testid': 'health-alert', 'data-key': 'connection:' + c.connectionId }, [
          el('strong', { text: 'Stalled: ' }),
          document.createTextNode(
            c.connector +
              ' ' +
              c.object +
              ' (' +
              c.connectionId +
              ') last succeeded ' +
              ago(c.lastSuccessAt, now) +
              (c.consecutiveFailures ? '; ' + c.consecutiveFailures + ' failures in a row' : '') +
              (c.lastError ? ': ' + c.lastError : '') +
              '.',
          ),
        ]),
      );
    });
    report.topics.forEach(function (t) {
      if (t.status === 'ok') return;
      var why =
        t.status === 'stale'
          ? 'no events for ' + duration(t.freshnessMs) + ', far longer than its usual gaps'
          : 'error rate ' + percent(t.errorRate) + ' (dead letters and refused records)';
      alerts.push(
        el('p', { className: 'error', 'data-testid': 'health-alert', 'data-key': 'topic:' + t.topic }, [
          el('strong', { text: (t.status === 'stale' ? 'Stalled' : 'Failing') + ': ' }),
          document.createTextNode(t.topic + ', ' + why + '.'),
        ]),
      );
    });
    if (alerts.length === 0)
      alerts.push(el('p', { className: 'all-clear', text: 'Every integration is flowing.' }));
    var box = $('[data-testid="health-alerts"]', section);
    box.replaceChildren.apply(box, alerts);

    fill(
      $('[data-testid="connections-table"]', section),
      report.connections.map(function (c) {
        var state = c.stalled
          ? badge('stalled', 'bad', 'state')
          : badge(c.status, c.status === 'healthy' ? 'ok' : c.status === 'paused' ? 'warn' : 'bad', 'state');
        return el(
          'tr',
          {
            'data-testid': 'connection-row',
            'data-key': c.connectionId,
            'data-stalled': String(c.stalled),
            className: c.stalled ? 'stalled' : '',
          },
          [
            text('connectionId', c.connectionId),
            text('connector', c.connector),
            text('object', c.object),
            el('td', { className: 'text', 'data-status': c.status }, [state]),
            el('td', {
              'data-testid': 'lastSuccessAt',
              'data-value': c.lastSuccessAt || '',
              title: c.lastSuccessAt || '',
              text: ago(c.lastSuccessAt, now),
            }),
            num('lagMs', c.lagMs, duration),
            num('consecutiveFailures', c.consecutiveFailures, count),
            text('lastError', c.lastError),
          ],
        );
      }),
      'No sync connection reports yet.',
      8,
    );

    // Stalled and failing topics first: a stall must not hide in the middle of the list.
    var topicsFirstBad = report.topics.slice().sort(function (a, b) {
      return (a.status === 'ok' ? 1 : 0) - (b.status === 'ok' ? 1 : 0);
    });
    fill(
      $('[data-testid="topics-table"]', section),
      topicsFirstBad.map(function (t) {
        var state =
          t.status === 'stale'
            ? badge('stalled', 'bad', 'state')
            : t.status === 'failing'
              ? badge('failing', 'bad', 'state')
              : badge('ok', 'ok', 'state');
        return el(
          'tr',
          {
            'data-testid': 'topic-row',
            'data-key': t.topic,
            'data-status': t.status,
            className: t.status === 'ok' ? '' : 'stalled',
          },
          [
            text('topic', t.topic),
            el('td', { className: 'text', title: t.status === 'stale' ? 'stale: silent too long' : t.status }, [
              state,
            ]),
            num('events', t.events, count),
            num('eventsPerMinute', t.eventsPerMinute, decimal),
            el('td', {
              'data-testid': 'newestEventAt',
              'data-value': t.newestEventAt || '',
              title: t.newestEventAt || '',
              text: ago(t.newestEventAt, now),
            }),
            num('p50', t.latencyMs.p50, duration),
            num('p95', t.latencyMs.p95, duration),
            num('p99', t.latencyMs.p99, duration),
            num('deadLetters', t.deadLetters, count),
            num('rejected', t.rejected, count),
            num('errorRate', t.errorRate, percent),
          ],
        );
      }),
      'No topics.',
      11,
    );

    fill(
      $('[data-testid="lag-table"]', section),
      report.consumerLag.map(function (l) {
        return el('tr', { 'data-testid': 'lag-row', 'data-key': l.group + '|' + l.topic }, [
          text('group', l.group),
          text('topic', l.topic),
          num('lag', l.lag, count),
        ]);
      }),
      'No consumer groups.',
      3,
    );

    fill(
      $('[data-testid="quality-table"]', section),
      quality.summary.rejected.map(function (r) {
        return el('tr', { 'data-testid': 'quality-row', 'data-key': r.source + '|' + r.route }, [
          text('source', r.source),
          text('route', r.route),
          num('records', r.records, count),
        ]);
      }),
      'Nothing refused.',
      3,
    );
    var late = $('[data-testid="quality-late"]', section);
    late.textContent = count(quality.summary.late);
    late.setAttribute('data-value', quality.summary.late);

    var minutes = Array.from(
      new Set(
        report.recentMinutes.map(function (m) {
          return m.minute;
        }),
      ),
    ).sort();
    var topics = Array.from(
      new Set(
        report.recentMinutes.map(function (m) {
          return m.topic;
        }),
      ),
    ).sort();
    chart('chart-health').setOption(
      {
        animation: false,
        title: emptyTitle(minutes.length === 0, 'No events in the last 15 complete minutes'),
        tooltip: { trigger: 'axis' },
        legend: { top: 0 },
        grid: { left: 40, right: 16, top: 40, bottom: 30 },
        xAxis: {
          type: 'category',
          data: minutes.map(function (m) {
            return m.slice(11, 16);
          }),
        },
        yAxis: { type: 'value', minInterval: 1 },
        series: topics.map(function (topic) {
          return {
            name: topic,
            type: 'bar',
            stack: 'events',
            data: minutes.map(function (minute) {
              var hit = report.recentMinutes.find(function (m) {
                return m.minute === minute && m.topic === topic;
              });
              return hit ? hit.events : 0;
            }),
          };
        }),
      },
      true,
    );
  }

  function loadHealth(section) {
    var windowMs = value('window') === '7d' ? 7 * DAY_MS : DAY_MS;
    var since = new Date(Date.now() - windowMs).toISOString();
    // The API's default is the last 24 whole hours; a longer window names its start.
    var path = '/v1/reports/health' + (windowMs === DAY_MS ? '' : query([['from', since]]));
    return Promise.all([api(path), api('/v1/reports/data-quality' + query([['from', since], ['limit', '1']]))]).then(
      function (answers) {
        renderHealth(answers[0], answers[1], section);
        return path;
      },
    );
  }

  var LOADERS = {
    funnel: loadFunnel,
    attribution: loadAttribution,
    journeys: loadJourneys,
    health: loadHealth,
  };

  // ---- navigation and sign-in ----------------------------------------------------------------------------------

  function currentPage() {
    var page = location.hash.replace('#', '');
    return PAGES.indexOf(page) === -1 ? 'funnel' : page;
  }

  function showError(message) {
    var box = $('#page-error');
    box.textContent = message || '';
    box.hidden = !message;
  }

  function load() {
    var page = currentPage();
    PAGES.forEach(function (name) {
      $('#page-' + name).hidden = name !== page;
      $('[data-page="' + name + '"]').classList.toggle('active', name === page);
    });
    $all('#filters [data-for]').forEach(function (group) {
      group.hidden = group.getAttribute('data-for').split(' ').indexOf(page) === -1;
    });
    $all('.grain').forEach(function (span) {
      span.textContent = value('grain');
    });
    var section = $('#page-' + page);
    var seq = (loads[page] = (loads[page] || 0) + 1);
    section.setAttribute('data-state', 'loading');
    showError('');
    return LOADERS[page](section).then(
      function (path) {
        if (loads[page] !== seq) return;
        $('[data-testid="api-query"]', section).textContent = 'GET ' + path;
        section.setAttribute('data-query', path);
        section.setAttribute('data-state', 'ready');
        $all('.chart', section).forEach(function (node) {
          var instance = window.echarts.getInstanceByDom(node);
          if (instance) instance.resize();
        });
      },
      function (error) {
        if (loads[page] !== seq) return;
        section.setAttribute('data-state', 'error');
        if (error instanceof ApiError && error.status === 401) {
          signOut(describe(error));
          return;
        }
        showError(describe(error));
      },
    );
  }

  function showLogin(message) {
    $('#app').hidden = true;
    $('#login').hidden = false;
    $('#sign-out').hidden = true;
    $('[data-testid="signed-in-as"]').hidden = true;
    var box = $('#login-error');
    box.textContent = message || '';
    box.hidden = !message;
    $('#login-secret').focus();
  }

  function signOut(message) {
    sessionStorage.removeItem(STORAGE_KEY);
    settings = null;
    showLogin(message);
  }

  /** Checks the held credential against the API (settings, then a report) and opens the dashboard. */
  function start() {
    var held = credential();
    if (!held) return showLogin('');
    return api('/v1/reports/settings')
      .then(function (answer) {
        settings = answer;
        var day = today(settings.timeZone);
        return api('/v1/reports/leads-captured' + query([['from', day], ['to', day]])).then(function () {
          return day;
        });
      })
      .then(
        function (day) {
          if (!field('to').value) field('to').value = day;
          if (!field('from').value) field('from').value = daysBefore(day, 29);
          $('#login').hidden = true;
          $('#app').hidden = false;
          $('#sign-out').hidden = false;
          var who = $('[data-testid="signed-in-as"]');
          who.hidden = false;
          who.textContent =
            (held.kind === 'token' ? 'OAuth token' : 'API key') +
            ' …' +
            held.secret.slice(-4) +
            ' · times in ' +
            settings.timeZone;
          api('/v1/reports/funnel/contacts?limit=1000').then(
            function (people) {
              options('sources', people.items.map(function (p) { return p.source; }));
              options('media', people.items.map(function (p) { return p.medium; }));
              options('campaigns', people.items.map(function (p) { return p.campaign; }));
            },
            function () {
              // Suggestions only: the filters work without them.
            },
          );
          return load();
        },
        function (error) {
          signOut(describe(error));
        },
      );
  }

  document.addEventListener('DOMContentLoaded', function () {
    $('#login-form').addEventListener('submit', function (event) {
      event.preventDefault();
      var kind = $('#login-form input[name="kind"]:checked').value;
      var secret = $('#login-secret').value.trim();
      if (!secret) return showLogin('Enter a key or a token.');
      sessionStorage.setItem(STORAGE_KEY, JSON.stringify({ kind: kind, secret: secret }));
      $('#login-secret').value = '';
      start();
    });
    $('#sign-out').addEventListener('click', function () {
      signOut('');
    });
    $('#filters').addEventListener('submit', function (event) {
      event.preventDefault();
      load();
    });
    window.addEventListener('hashchange', function () {
      if (credential() && settings) load();
    });
    window.addEventListener('resize', function () {
      $all('.chart').forEach(function (node) {
        var instance = window.echarts.getInstanceByDom(node);
        if (instance) instance.resize();
      });
    });
    start();
  });
})();
`;
