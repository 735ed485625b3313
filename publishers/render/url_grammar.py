"""twitter-text's URL grammar: which stretches of a text X and Mastodon count as URLs.

X's library, which Mastodon also uses, re-implemented here: a URL needs a domain ending in a
top-level domain from twitter-text's list. X also counts scheme-less domains
(``example.com``, ``arxiv.org/abs/1``) as URLs when they are ASCII and not preceded by
``-_./``; Mastodon counts only http(s) URLs. A domain under an unknown top-level domain may
still hold a URL up to its last known one: ``http://0.ac.nonexistenttld`` holds
``http://0.ac``, as in twitter-text. The rulers that count them are in ``lengths``.
"""

from __future__ import annotations

import functools
import re
from typing import NamedTuple

__all__ = ["LATIN_ACCENTS", "UrlMatch", "find_urls", "url_matches"]

# The grammar (character classes, structure, quirks) follows twitter-text's published
# regular expressions (twitter/twitter-text js/src/regexp/*.js and extractUrlsWithIndices.js).
# The top-level domain list is data: twitter-text's conformance/tests/tld_lib.yml at commit
# 3b8031c80efe49f16fd282a55e28eb23aef2ad85 (1,259 generic + 315 country-code), the same list
# the twitter-text-parser 3.0 port carries. X's servers may know newer domains; a URL on one
# of those is counted by its characters here, which only ever over-counts.

_TLD_DATA = """
aaa aarp abarth abb abbott abbvie abc able abogado abudhabi ac academy accenture accountant
accountants aco active actor ad adac ads adult ae aeg aero aetna af afamilycompany afl africa ag
agakhan agency ai aig aigo airbus airforce airtel akdn al alfaromeo alibaba alipay allfinanz
allstate ally alsace alstom am americanexpress americanfamily amex amfam amica amsterdam an
analytics android anquan anz ao aol apartments app apple aq aquarelle ar arab aramco archi army
arpa art arte as asda asia associates at athleta attorney au auction audi audible audio auspost
author auto autos avianca aw aws ax axa az azure ba baby baidu banamex bananarepublic band bank
bar barcelona barclaycard barclays barefoot bargains baseball basketball bauhaus bayern bb bbc
bbt bbva bcg bcn bd be beats beauty beer bentley berlin best bestbuy bet bf bg bh bharti bi
bible bid bike bing bingo bio biz bj bl black blackfriday blanco blockbuster blog bloomberg blue
bm bms bmw bn bnl bnpparibas bo boats boehringer bofa bom bond boo book booking boots bosch
bostik boston bot boutique box bq br bradesco bridgestone broadway broker brother brussels bs bt
budapest bugatti build builders business buy buzz bv bw by bz bzh ca cab cafe cal call
calvinklein cam camera camp cancerresearch canon capetown capital capitalone car caravan cards
care career careers cars cartier casa case caseih cash casino cat catering catholic cba cbn cbre
cbs cc cd ceb center ceo cern cf cfa cfd cg ch chanel channel charity chase chat cheap chintai
chloe christmas chrome chrysler church ci cipriani circle cisco citadel citi citic city cityeats
ck cl claims cleaning click clinic clinique clothing cloud club clubmed cm cn co coach codes
coffee college cologne com comcast commbank community company compare computer comsec condos
construction consulting contact contractors cooking cookingchannel cool coop corsica country
coupon coupons courses cpa cr credit creditcard creditunion cricket crown crs cruise cruises csc
cu cuisinella cv cw cx cy cymru cyou cz dabur dad dance data date dating datsun day dclk dds de
deal dealer deals degree delivery dell deloitte delta democrat dental dentist desi design dev
dhl diamonds diet digital direct directory discount discover dish diy dj dk dm dnp do docs
doctor dodge dog doha domains doosan dot download drive dtv dubai duck dunlop duns dupont durban
dvag dvr dz earth eat ec eco edeka edu education ee eg eh email emerck energy engineer
engineering enterprises epost epson equipment er ericsson erni es esq estate esurance et
etisalat eu eurovision eus events everbank exchange expert exposed express extraspace fage fail
fairwinds faith family fan fans farm farmers fashion fast fedex feedback ferrari ferrero fi fiat
fidelity fido film final finance financial fire firestone firmdale fish fishing fit fitness fj
fk flickr flights flir florist flowers flsmidth fly fm fo foo food foodnetwork football ford
forex forsale forum foundation fox fr free fresenius frl frogans frontdoor frontier ftr fujitsu
fujixerox fun fund furniture futbol fyi ga gal gallery gallo gallup game games gap garden gay gb
gbiz gd gdn ge gea gent genting george gf gg ggee gh gi gift gifts gives giving gl glade glass
gle global globo gm gmail gmbh gmo gmx gn godaddy gold goldpoint golf goo goodhands goodyear
goog google gop got gov gp gq gr grainger graphics gratis green gripe grocery group gs gt gu
guardian gucci guge guide guitars guru gw gy hair hamburg hangout haus hbo hdfc hdfcbank health
healthcare help helsinki here hermes hgtv hiphop hisamitsu hitachi hiv hk hkt hm hn hockey
holdings holiday homedepot homegoods homes homesense honda honeywell horse hospital host hosting
hot hoteles hotels hotmail house how hr hsbc ht htc hu hughes hyatt hyundai ibm icbc ice icu id
ie ieee ifm iinet ikano il im imamat imdb immo immobilien in inc industries infiniti info ing
ink institute insurance insure int intel international intuit investments io ipiranga iq ir
irish is iselect ismaili ist istanbul it itau itv iveco iwc jaguar java jcb jcp je jeep jetzt
jewelry jio jlc jll jm jmp jnj jo jobs joburg jot joy jp jpmorgan jprs juegos juniper kaufen
kddi ke kerryhotels kerrylogistics kerryproperties kfh kg kh ki kia kim kinder kindle kitchen
kiwi km kn koeln komatsu kosher kp kpmg kpn kr krd kred kuokgroup kw ky kyoto kz la lacaixa
ladbrokes lamborghini lamer lancaster lancia lancome land landrover lanxess lasalle lat latino
latrobe law lawyer lb lc lds lease leclerc lefrak legal lego lexus lgbt li liaison lidl life
lifeinsurance lifestyle lighting like lilly limited limo lincoln linde link lipsy live living
lixil lk llc llp loan loans locker locus loft lol london lotte lotto love lpl lplfinancial lr ls
lt ltd ltda lu lundbeck lupin luxe luxury lv ly ma macys madrid maif maison makeup man
management mango map market marketing markets marriott marshalls maserati mattel mba mc mcd
mcdonalds mckinsey md me med media meet melbourne meme memorial men menu meo merckmsd metlife mf
mg mh miami microsoft mil mini mint mit mitsubishi mk ml mlb mls mm mma mn mo mobi mobile mobily
moda moe moi mom monash money monster montblanc mopar mormon mortgage moscow moto motorcycles
mov movie movistar mp mq mr ms msd mt mtn mtpc mtr mu museum mutual mutuelle mv mw mx my mz na
nab nadex nagoya name nationwide natura navy nba nc ne nec net netbank netflix network neustar
new newholland news next nextdirect nexus nf nfl ng ngo nhk ni nico nike nikon ninja nissan
nissay nl no nokia northwesternmutual norton now nowruz nowtv np nr nra nrw ntt nu nyc nz obi
observer off office okinawa olayan olayangroup oldnavy ollo om omega one ong onion onl online
onyourside ooo open oracle orange org organic orientexpress origins osaka otsuka ott ovh pa page
pamperedchef panasonic panerai paris pars partners parts party passagens pay pccw pe pet pf
pfizer pg ph pharmacy phd philips phone photo photography photos physio piaget pics pictet
pictures pid pin ping pink pioneer pizza pk pl place play playstation plumbing plus pm pn pnc
pohl poker politie porn post pr pramerica praxi press prime pro prod productions prof
progressive promo properties property protection pru prudential ps pt pub pw pwc py qa qpon
quebec quest qvc racing radio raid re read realestate realtor realty recipes red redstone
redumbrella rehab reise reisen reit reliance ren rent rentals repair report republican rest
restaurant review reviews rexroth rich richardli ricoh rightathome ril rio rip rmit ro rocher
rocks rodeo rogers room rs rsvp ru rugby ruhr run rw rwe ryukyu sa saarland safe safety sakura
sale salon samsclub samsung sandvik sandvikcoromant sanofi sap sapo sarl sas save saxo sb sbi
sbs sc sca scb schaeffler schmidt scholarships school schule schwarz science scjohnson scor scot
sd se search seat secure security seek select sener services ses seven sew sex sexy sfr sg sh
shangrila sharp shaw shell shia shiksha shoes shop shopping shouji show showtime shriram si silk
sina singles site sj sk ski skin sky skype sl sling sm smart smile sn sncf so soccer social
softbank software sohu solar solutions song sony soy space spiegel sport spot spreadbetting sr
srl srt ss st stada staples star starhub statebank statefarm statoil stc stcgroup stockholm
storage store stream studio study style su sucks supplies supply support surf surgery suzuki sv
swatch swiftcover swiss sx sy sydney symantec systems sz tab taipei talk taobao target
tatamotors tatar tattoo tax taxi tc tci td tdk team tech technology tel telecity telefonica
temasek tennis teva tf tg th thd theater theatre tiaa tickets tienda tiffany tips tires tirol tj
tjmaxx tjx tk tkmaxx tl tm tmall tn to today tokyo tools top toray toshiba total tours town
toyota toys tp tr trade trading training travel travelchannel travelers travelersinsurance trust
trv tt tube tui tunes tushu tv tvs tw tz ua ubank ubs uconnect ug uk um unicom university uno
uol ups us uy uz va vacations vana vanguard vc ve vegas ventures verisign versicherung vet vg vi
viajes video vig viking villas vin vip virgin visa vision vista vistaprint viva vivo vlaanderen
vn vodka volkswagen volvo vote voting voto voyage vu vuelos wales walmart walter wang wanggou
warman watch watches weather weatherchannel webcam weber website wed wedding weibo weir wf
whoswho wien wiki williamhill win windows wine winners wme wolterskluwer woodside work works
world wow ws wtc wtf xbox xerox xfinity xihuan xin xperia xxx xyz yachts yahoo yamaxun yandex ye
yodobashi yoga yokohama you youtube yt yun za zappos zara zero zip zippo zm zone zuerich zw
"""
# Internationalised ones in their ASCII (punycode) form, as IANA lists them; decoded below.
_IDN_TLD_DATA = """
xn--11b4c3d xn--1ck2e1b xn--1qqw23a xn--2scrj9c xn--30rr7y xn--3bst00m xn--3ds443g xn--3e0b707e
xn--3hcrj9c xn--3oq18vl8pn36a xn--3pxu8k xn--42c2d9a xn--45br5cyl xn--45brj9c xn--45q11c
xn--4gbrim xn--54b7fta0cc xn--55qw42g xn--55qx5d xn--5su34j936bgsg xn--5tzm5g xn--6frz82g
xn--6qq986b3xl xn--80adxhks xn--80ao21a xn--80aqecdr1a xn--80asehdb xn--80aswg xn--8y0a063a
xn--90a3ac xn--90ae xn--90ais xn--9dbq2a xn--9et52u xn--9krt00a xn--b4w605ferd xn--bck1b9a5dre4c
xn--c1avg xn--c2br7g xn--cck2b3b xn--cg4bki xn--clchc0ea0b2g2a9gcd xn--czr694b xn--czrs0t
xn--czru2d xn--d1acj3b xn--d1alf xn--e1a4c xn--eckvdtc9d xn--efvy88h xn--estv75g xn--fct429k
xn--fhbei xn--fiq228c5hs xn--fiq64b xn--fiqs8s xn--fiqz9s xn--fjq720a xn--flw351e xn--fpcrj9c3d
xn--fzc2c9e2c xn--fzys8d69uvgm xn--g2xx48c xn--gckr3f0f xn--gecrj9c xn--gk3at1e xn--h2breg3eve
xn--h2brj9c xn--h2brj9c8c xn--hxt814e xn--i1b6b1a6a2e xn--imr513n xn--io0a7i xn--j1aef xn--j1amh
xn--j6w193g xn--jlq61u9w7b xn--jvr189m xn--kcrx77d1x4a xn--kprw13d xn--kpry57d xn--kpu716f
xn--kput3i xn--l1acc xn--lgbbat1ad8j xn--mgb9awbf xn--mgba3a3ejt xn--mgba3a4f16a
xn--mgba7c0bbn0a xn--mgbaakc7dvf xn--mgbaam7a8h xn--mgbab2bd xn--mgbah1a3hjkrd xn--mgbai9azgqp6j
xn--mgbayh7gpa xn--mgbb9fbpob xn--mgbbh1a xn--mgbbh1a71e xn--mgbc0a9azcg xn--mgbca7dzdo
xn--mgbcpq6gpa1a xn--mgberp4a5d4ar xn--mgbgu82a xn--mgbi4ecexp xn--mgbpl2fh xn--mgbt3dhd
xn--mgbtx2b xn--mgbx4cd0ab xn--mix891f xn--mk1bu44c xn--mxtq1m xn--ngbc5azd xn--ngbe9e0a
xn--ngbrx xn--node xn--nqv7f xn--nqv7fs00ema xn--nyqy26a xn--o3cw4h xn--ogbpf8fl xn--otu796d
xn--p1acf xn--p1ai xn--pbt977c xn--pgbs0dh xn--pssy2u xn--q7ce6a xn--q9jyb4c xn--qcka1pmc
xn--qxa6a xn--qxam xn--rhqv96g xn--rovu88b xn--rvc1e0am3e xn--s9brj9c xn--ses554g xn--t60b56a
xn--tckwe xn--tiq49xqyj xn--unup4y xn--vermgensberater-ctb xn--vermgensberatung-pwb xn--vhquv
xn--vuq861b xn--w4r85el8fhu5dnra xn--w4rs40l xn--wgbh1c xn--wgbl6a xn--xhq521b xn--xkc2al3hye2a
xn--xkc2dl3a5ee0h xn--y9a3aq xn--yfro4i67o xn--ygbi2ammx xn--zfr164b
"""
_TWITTER_TLDS = frozenset(_TLD_DATA.split()) | frozenset(
    label.encode("ascii").decode("idna") for label in _IDN_TLD_DATA.split()
)

_PUNCTUATION = r"!'#%&()*+,\\\-./:;<=>?@\[\]^_{|}~$"
_SPACES = r"\x09-\x0D\x20\x85\xA0\u1680\u180E\u2000-\u200A\u2028\u2029\u202F\u205F\u3000"
_INVALID = r"\uFFFE\uFEFF\uFFFF"
_DIRECTIONAL = r"\u202A-\u202E\u061C\u200E\u200F\u2066-\u2069"
LATIN_ACCENTS = (
    r"\xC0-\xD6\xD8-\xF6\xF8-\xFF\u0100-\u024F\u0253\u0254\u0256\u0257\u0259\u025B\u0263"
    r"\u0268\u026F\u0272\u0289\u028B\u02BB\u0300-\u036F\u1E00-\u1EFF"
)
_CYRILLIC = r"\u0400-\u04FF"


def _trie_pattern(words: frozenset[str]) -> str:
    """One regular expression for a set of words, factored by common prefixes.

    Where one word extends another the longer is tried first, as in twitter-text's list
    (sorted so), and the engine backtracks to the shorter. Far faster than a flat
    alternation of 1,574 words or the regex module's named lists.
    """
    trie: dict[str, dict] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def pattern(node: dict[str, dict]) -> str:
        branches = [re.escape(char) + pattern(child) for char, child in node.items() if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if "" in node:
            return f"(?:{body})?"
        return body

    return pattern(trie)


_DOMAIN_CHAR = rf"[^{_PUNCTUATION}{_SPACES}{_INVALID}{_DIRECTIONAL}]"
_PATH_CHAR = rf"[a-z{_CYRILLIC}0-9!*';:=+,.$/%#\[\]\-\u2013_~@|&{LATIN_ACCENTS}]"
_PARENS = rf"\((?:{_PATH_CHAR}+|{_PATH_CHAR}*\({_PATH_CHAR}+\){_PATH_CHAR}*)\)"
_PATH_END = rf"[+\-a-z{_CYRILLIC}0-9=_#/{LATIN_ACCENTS}]"
# twitter-text splices its "ending character or balanced parentheses" expression into the
# path expression without brackets, so a parenthesised group is a path part on its own rather
# than an ending: "/a!(b)" stops at "/a". Kept, since X counts what twitter-text finds.
_PATH_PART = rf"(?:{_PATH_CHAR}*(?:{_PARENS}{_PATH_CHAR}*)*{_PATH_END}|{_PARENS}|@{_PATH_CHAR}+/)"
_QUERY = r"\?[a-z0-9!?*'@();:&=+$/%#\[\]\-_.,~|]*[a-z0-9\-_&=#/]"

# A whole space-separated word that holds a dot (starting only where a word starts, and
# without backtracking, so long words cost linear time).
_WORD_WITH_DOT = re.compile(rf"(?<![^{_SPACES}])[^{_SPACES}.]*+\.[^{_SPACES}]*+")
_DOMAIN_RUN = re.compile(rf"(?:{_DOMAIN_CHAR}|[._\-])+")
_TCO = re.compile(rf"https?://t\.co/([a-z0-9]+)(?:{_QUERY})?", re.IGNORECASE)
_MAX_URL_LENGTH = 4096
_MAX_TCO_SLUG = 40
_DEFAULT_SCHEME = "https://"


class _UrlPatterns(NamedTuple):
    url: re.Pattern[str]
    ascii_domain: re.Pattern[str]
    dot_tld: re.Pattern[str]


@functools.cache
def _url_patterns() -> _UrlPatterns:
    """The expressions that hold the top-level domain list, compiled on first use
    (start-up: building and compiling the 1,574-domain trie takes ~90 ms)."""
    tld = rf"(?:(?:{_trie_pattern(_TWITTER_TLDS)})(?=[^0-9a-zA-Z@+\-]|$)|xn--[\-0-9a-z]+)"
    return _UrlPatterns(
        url=re.compile(
            rf"""
            (?P<before>[^A-Za-z0-9@\uFF20$\#\uFF03{_INVALID}]|^)
            (?P<url>
                (?P<scheme>https?://)?
                (?P<domain>
                    (?:(?:{_DOMAIN_CHAR}(?:[_\-]|{_DOMAIN_CHAR})*)?{_DOMAIN_CHAR}\.)*
                    (?:{_DOMAIN_CHAR}(?:-|{_DOMAIN_CHAR})*)?{_DOMAIN_CHAR}\.
                    {tld}
                )
                (?::[0-9]+)?
                (?P<path>/{_PATH_PART}*)?
                (?:{_QUERY})?
            )
            """,
            re.IGNORECASE | re.VERBOSE,
        ),
        ascii_domain=re.compile(rf"(?:[\-a-z0-9{LATIN_ACCENTS}]+\.)+{tld}", re.IGNORECASE),
        dot_tld=re.compile(rf"\.{tld}", re.IGNORECASE),
    )


class UrlMatch(NamedTuple):
    """A URL twitter-text found: its span, and where counting resumes after it.

    The two differ only for a scheme-less URL whose domain holds more than its ASCII part
    ("foo.jp🧗.net/a", "жж0.com/ж0.com"): twitter-text skips as many characters as the URL it
    rebuilt from the ASCII domain and the path, and counts the rest one by one.
    """

    start: int
    end: int
    counted_end: int


def find_urls(text: str, *, schemeless: bool = True) -> list[tuple[int, int]]:
    """[start, end) of each URL twitter-text finds in ``text``, in order.

    ``schemeless=True`` is X's rule (``example.com`` is a URL); ``False`` is Mastodon's, which
    counts only http(s) URLs. Indices are code points of ``text`` as given (X normalises to
    NFC before looking; ``lengths.x_length`` does that).
    """
    return [(url.start, url.end) for url in url_matches(text, schemeless=schemeless)]


def url_matches(text: str, *, schemeless: bool) -> list[UrlMatch]:
    """Each URL twitter-text finds, with where counting resumes after it (see ``UrlMatch``):
    what a ruler that replaces URLs by a fixed length needs."""
    if not text or ("." not in text if schemeless else ":" not in text):
        return []
    spans: list[UrlMatch] = []
    # No part of a URL is a space, so each space-separated word is searched on its own.
    for word in _WORD_WITH_DOT.finditer(text):
        if schemeless or ":" in word.group():
            # With the space before it: the expression takes a word's first character as the
            # "preceding character" when nothing precedes it, and would miss "éfoo.jp".
            start = max(word.start() - 1, 0)
            spans += [
                UrlMatch(start + url.start, start + url.end, start + url.counted_end)
                for url in _urls_in_word(text[start : word.end()], schemeless=schemeless)
            ]
    return spans


_REMEMBERED_WORD = 256
"""Words up to this long have their URLs remembered (a link is; a page of dotted garbage
is not kept in memory)."""


def _urls_in_word(word: str, *, schemeless: bool) -> tuple[UrlMatch, ...]:
    """:func:`_urls_in`, remembered for short words (a bounded cache): a post's link is
    looked for each time a candidate post is measured, on every network, so the same few
    words come back thousands of times."""
    if len(word) <= _REMEMBERED_WORD:
        return _remembered_urls_in(word, schemeless=schemeless)
    return _urls_in(word, schemeless=schemeless)


def _urls_in(word: str, *, schemeless: bool) -> tuple[UrlMatch, ...]:
    """The URLs of one word (spans within it), as a left-to-right scan with twitter-text's
    expression finds them.

    The expression is tried only where a match can begin (see :func:`_possible_starts`);
    everywhere else it would fail anyway, so the result is the same as trying everywhere,
    and dotted garbage ("a.a.a.a…") costs linear time instead of quadratic.
    """
    spans: list[UrlMatch] = []
    position = 0
    for candidate in _possible_starts(word):
        if candidate < position:
            continue
        match = _url_patterns().url.match(word, candidate)
        if match is None:
            continue
        position = match.end()
        spans += _accepted(match, schemeless=schemeless)
    return tuple(spans)


_remembered_urls_in = functools.lru_cache(maxsize=4096)(_urls_in)


def _possible_starts(word: str) -> list[int]:
    """Where a match can begin: from 9 characters (a preceding character and "https://")
    before a run of domain characters that holds a dot and a top-level domain, to its end.
    A URL's domain lies within one such run and ends with that top-level domain.
    """
    starts: list[int] = []
    reached = 0
    dot_tld = _url_patterns().dot_tld
    for run in _DOMAIN_RUN.finditer(word):
        if dot_tld.search(run.group()):
            first = max(reached, run.start() - 1 - len(_DEFAULT_SCHEME))
            starts += range(first, run.end())
            reached = run.end()
    return starts


def _accepted(match: re.Match[str], *, schemeless: bool) -> list[UrlMatch]:
    """twitter-text's checks on a match: length, scheme-less rules, t.co links."""
    start, end = match.span("url")
    url, scheme, domain = match.group("url"), match.group("scheme"), match.group("domain")
    if not _acceptable_length(url, domain, scheme, x_quirk=schemeless):
        return []
    if scheme is None:
        if schemeless and match.group("before") not in ("-", "_", ".", "/"):
            return _ascii_domains(match)
        return []
    tco = _TCO.match(url)
    if tco:
        if len(tco.group(1)) > _MAX_TCO_SLUG:
            return []
        end = start + tco.end()  # a t.co link takes no extra path characters
    return [UrlMatch(start, end, end)]


def _acceptable_length(url: str, domain: str, scheme: str | None, *, x_quirk: bool) -> bool:
    """At most 4,096 characters with the domain in punycode, and the domain must encode.

    twitter-text's JavaScript adds the protocol's length to a URL that already contains it (so
    a scheme URL may be 8 characters shorter); Mastodon's Ruby gem counts the URL as written.
    """
    try:
        encoded = domain.encode("idna")
    except UnicodeError:
        return False
    length = len(url) + len(encoded) - len(domain)
    if x_quirk or scheme is None:
        length += len(scheme or _DEFAULT_SCHEME)
    return length <= _MAX_URL_LENGTH


def _ascii_domains(match: re.Match[str]) -> list[UrlMatch]:
    """A scheme-less URL counts only for its ASCII domain(s); the last one keeps the path.

    As in twitter-text, a query string without a path is not part of the URL.
    """
    domain_start, domain = match.start("domain"), match.group("domain")
    urls = [
        UrlMatch(
            domain_start + found.start(), domain_start + found.end(), domain_start + found.end()
        )
        for found in _url_patterns().ascii_domain.finditer(domain)
    ]
    if urls and match.group("path"):
        # The port rebuilds the URL with Python's str.replace, which replaces the domain
        # wherever it recurs, the path included: "ж0.com/ж0.com" becomes "0.com/0.com", and
        # only that many characters are skipped. (The JavaScript's String.replace replaces
        # the first only; counting as the port does counts a character more per recurrence,
        # never less.)
        last = urls[-1]
        rebuilt = match.group("url").replace(
            domain, domain[last.start - domain_start : last.end - domain_start]
        )
        urls[-1] = UrlMatch(last.start, match.end("url"), last.start + len(rebuilt))
    return urls
