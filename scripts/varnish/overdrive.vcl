vcl 4.1;
# Varnish in front of an Overdrive application: honours the application's Cache-Control
# (s-maxage, stale-while-revalidate become TTL and grace), turns Surrogate-Key into xkey
# tags, and purges by tag through the PURGE method that overdrive's VarnishPurger sends.
# The backend is filled in by whoever starts varnishd (BACKEND_HOST / BACKEND_PORT).

import xkey;

backend default {
    .host = "BACKEND_HOST";
    .port = "BACKEND_PORT";
}

acl purgers {
    "127.0.0.1";
    "::1";
}

sub vcl_recv {
    if (req.method == "PURGE") {
        if (client.ip !~ purgers) {
            return (synth(403, "Forbidden"));
        }
        if (req.http.xkey-purge) {
            set req.http.n-gone = xkey.purge(req.http.xkey-purge);
        } elsif (req.http.xkey-softpurge) {
            set req.http.n-gone = xkey.softpurge(req.http.xkey-softpurge);
        } else {
            return (synth(400, "PURGE needs an xkey-purge or xkey-softpurge header"));
        }
        return (synth(200, "Invalidated " + req.http.n-gone + " objects"));
    }
}

sub vcl_backend_response {
    if (beresp.http.Surrogate-Key) {
        set beresp.http.xkey = beresp.http.Surrogate-Key;
    }
}

sub vcl_deliver {
    if (obj.hits > 0) {
        set resp.http.X-Edge-Cache = "HIT";
    } else {
        set resp.http.X-Edge-Cache = "MISS";
    }
    # Tags and CDN directives are for caches, not browsers: do not publish them.
    unset resp.http.xkey;
    unset resp.http.Surrogate-Key;
    unset resp.http.Surrogate-Control;
    unset resp.http.Cache-Tag;
}
