import { describeProblems } from './component';
import { parseJavaVersion } from './java';

describe('parseJavaVersion', () => {
  it.each([
    [
      'openjdk version "17.0.15" 2025-04-15\nOpenJDK Runtime Environment (build 17.0.15+6-Debian-1deb12u1)',
      17,
      '17.0.15',
    ],
    ['openjdk version "25.0.3" 2026-04-21 LTS\nOpenJDK Runtime Environment Temurin-25.0.3+9', 25, '25.0.3'],
    ['openjdk version "21" 2023-09-19', 21, '21'],
    ['openjdk version "22-ea" 2024-03-19', 22, '22-ea'],
    ['java version "1.8.0_392"\nJava(TM) SE Runtime Environment (build 1.8.0_392-b08)', 8, '1.8.0_392'],
    ['Picked up JAVA_TOOL_OPTIONS: -Xss1m\nopenjdk version "11.0.2" 2019-01-15', 11, '11.0.2'],
  ])('parses %p', (output, major, version) => {
    expect(parseJavaVersion(output)).toEqual({ major, version });
  });

  it('returns undefined for anything else', () => {
    expect(parseJavaVersion('bash: java: command not found')).toBeUndefined();
    expect(parseJavaVersion('version "abc"')).toBeUndefined();
  });
});

describe('describeProblems', () => {
  it('lists problems, then one line per missing tool naming everything that needs it', () => {
    const lines = describeProblems([
      {
        problems: ['java 17+ not found'],
        missing: [{ tool: 'mvn', neededFor: 'to download Kafka', fix: 'apt-get install -y maven' }],
      },
      {
        problems: [],
        missing: [{ tool: 'mvn', neededFor: 'to download Apicurio', fix: 'apt-get install -y maven' }],
      },
      { problems: [], missing: [{ tool: 'go', neededFor: 'to build FerretDB', fix: 'see go.dev' }] },
    ]);
    expect(lines).toEqual([
      'java 17+ not found',
      'mvn not found (needed once, to download Kafka and to download Apicurio): apt-get install -y maven',
      'go not found (needed once, to build FerretDB): see go.dev',
    ]);
  });
});
