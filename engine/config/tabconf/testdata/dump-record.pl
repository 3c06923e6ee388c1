#!/usr/bin/perl
# dump-record.pl FILE...: reads each FILE with Config::Record (Debian's
# libconfig-record-perl) and prints one line of JSON for it, in order:
#
#   {"tree": TREE}     Config::Record read it; TREE is its top mapping
#   {"error": "..."}   Config::Record refused it (the first line of its error)
#
# A mapping is a JSON object with its keys sorted, a list a JSON array, a
# text a JSON string (an undefined value would be null). Config::Record
# reads bytes: every byte of a text or key is printed as the character of
# that code point, \u0000-\u00ff, so the output is ASCII and exact (the
# reader turns each character back into its byte). Warnings it gives are
# listed under "warnings". The Go test TestParserAgreesWithConfigRecord
# compares this with tabconf.Parse.
use strict;
use warnings;
use Config::Record;
use JSON::PP;

my $json = JSON::PP->new->canonical->ascii->allow_nonref->max_depth(1_000_000);

sub plain {
    my $v = shift;
    my $r = ref $v;
    return { map { $_ => plain($v->{$_}) } keys %$v } if $r eq 'HASH';
    return [ map { plain($_) } @$v ] if $r eq 'ARRAY';
    die "unexpected $r in the tree\n" if $r;
    return defined $v ? "$v" : undef;
}

binmode STDOUT;
$| = 1;
for my $file (@ARGV) {
    my @warnings;
    local $SIG{__WARN__} = sub { push @warnings, $_[0] };
    my $out;
    my $tree = eval { Config::Record->new(file => $file)->record };
    if ($@) {
        my ($first) = split /\n/, "$@";
        $out = { error => $first };
    } else {
        $out = { tree => plain($tree) };
    }
    $out->{warnings} = \@warnings if @warnings;
    print $json->encode($out), "\n";
}
