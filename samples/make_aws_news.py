"""Regenerate the second sample: *Cloud Weekly*, a two-host weekly AWS-news episode (~7 min).

    apt-get install -y espeak-ng             # only needed to regenerate, never at test time
    uv run python samples/make_aws_news.py   # writes aws-news.m4a, .txt, .json, .topics.json

Made like the first sample (make_sample.py: same espeak-ng voices and rates, same hand-over
gap, same encoding), but longer and in the show's real genre: an intro, six news stories with
clear hand-overs ("Our first story", "Next up", ...), product names and concrete numbers, a
little banter and an outro, so chapters have real boundaries and summaries have facts to
get right. The news is invented. Numbers are written as digits where Whisper writes them
back as digits ("20 percent", "10,000"), so grounding can be checked against the transcript.
"""

from __future__ import annotations

import sys

from make_sample import Topic, parse_out_dir, write_sample

ALEX = "Alex Rivera"
PRIYA = "Priya Shah"
# The two voices of the first sample, measured there as the best for Whisper base. Lines
# alternate strictly, Alex first (like episode.txt), so each line is one speaker turn.
VOICES = {ALEX: ("en-us+m7", 165), PRIYA: ("en-gb+f3", 170)}

SCRIPT: list[tuple[str, str]] = [
    # 0 intro
    (
        ALEX,
        "Welcome to Cloud Weekly, the show that catches you up on everything new in AWS in "
        "under 10 minutes. I'm Alex Rivera.",
    ),
    (
        PRIYA,
        "And I'm Priya Shah. Alex, it was a busy week. I counted more than 60 announcements "
        "on the What's New page, and my coffee did not survive it.",
    ),
    (
        ALEX,
        "Mine neither. We picked the six that matter most: a new database, a price cut, "
        "storage, generative AI, events, and one more price cut to finish. Let's get into it.",
    ),
    # 3 Aurora DSQL
    (
        PRIYA,
        "Our first story: Amazon Aurora DSQL is now generally available. Alex, remind "
        "everyone what it is.",
    ),
    (
        ALEX,
        "Aurora DSQL is a serverless, distributed SQL database that is compatible with "
        "PostgreSQL. You do not manage instances or pick a size. It scales reads, writes and "
        "storage on its own, and it can run active-active across several regions.",
    ),
    (PRIYA, "And the numbers at launch?"),
    (
        ALEX,
        "Amazon promises 99.95 percent availability in a single region and 99.99 percent "
        "across multiple regions. At launch it runs in 5 regions: North Virginia, Ohio, "
        "Oregon, Ireland and Tokyo. You pay 8 dollars per million processing units, plus 33 "
        "cents per gigabyte per month for storage.",
    ),
    (
        PRIYA,
        "There is a free tier too: 100,000 processing units and 1 gigabyte of storage every "
        "month. For a side project, that is basically free.",
    ),
    (
        ALEX,
        "My only warning: it is not a full PostgreSQL. There are no foreign keys and no "
        "triggers yet, so test your application before you move it.",
    ),
    # 9 Lambda
    (
        PRIYA,
        "Next up, AWS Lambda gets cheaper. From March 1st, the duration price for functions "
        "that run on Graviton, the Arm processors, drops by 20 percent.",
    ),
    (
        ALEX,
        "And that comes on top of what Arm already saved you. Graviton was about 20 percent "
        "cheaper than Intel before, so an Arm function now costs roughly a third less than "
        "the same function on Intel.",
    ),
    (
        PRIYA,
        "The free tier does not change: 1 million requests and 400,000 gigabyte seconds per "
        "month. The maximum memory stays at 10 gigabytes.",
    ),
    (
        ALEX,
        "There is one more Lambda item. SnapStart now works for Python functions in 9 more "
        "regions, and it cuts cold starts from several seconds to under 1 second for big "
        "frameworks.",
    ),
    (
        PRIYA,
        "So if you have not moved your functions to Arm yet, this is the week to do it. For "
        "most Python and Node code it is one setting.",
    ),
    (
        ALEX,
        "Just check your native dependencies first. Some older Python packages still only "
        "ship builds for Intel, and you will find out at deploy time, not before.",
    ),
    # 15 S3 Tables
    (
        PRIYA,
        "Our third story is about storage. Amazon S3 Tables are a new kind of bucket, built "
        "for Apache Iceberg tables.",
    ),
    (ALEX, "So S3 is a database now?"),
    (
        PRIYA,
        "Not quite, but it is getting closer. A table bucket keeps your analytics data in "
        "Iceberg format and does the boring work for you, like compaction and cleaning up old "
        "snapshots. Amazon says queries run up to 3 times faster, with up to 10 times more "
        "transactions per second than Iceberg tables in a normal bucket.",
    ),
    (ALEX, "What does it cost?"),
    (
        PRIYA,
        "Storage costs about 15 percent more than S3 Standard, and compaction is billed per "
        "object processed. It works with Amazon Athena, Amazon Redshift and Apache Spark on "
        "Amazon EMR, and it launched in 3 regions: North Virginia, Ohio and Oregon.",
    ),
    (
        ALEX,
        "I love that compaction is automatic. Every data team I know has a cron job that "
        "does it badly at 3 in the morning.",
    ),
    # 21 Bedrock
    (
        PRIYA,
        "Let's move on to generative AI. Amazon Bedrock has two new features: prompt caching "
        "and intelligent prompt routing.",
    ),
    (
        ALEX,
        "Prompt caching keeps the long part of your prompt, like a big document or a system "
        "prompt, in a cache for 5 minutes. When the next request reuses it, you pay up to 90 "
        "percent less for those tokens, and the answer comes back up to 85 percent faster.",
    ),
    (
        PRIYA,
        "That is huge for chat bots that send the same instructions every time. And the routing?",
    ),
    (
        ALEX,
        "Intelligent prompt routing sends each request to the cheapest model in a family "
        "that can still answer it well, for example Claude Sonnet or Claude Haiku. Amazon "
        "claims it cuts costs by up to 30 percent without losing accuracy.",
    ),
    (
        PRIYA,
        "Both are in preview in North Virginia and Oregon. And as always with Bedrock, check "
        "your quotas first. New accounts still get very low limits.",
    ),
    (ALEX, "Which we know a thing or two about."),
    # 27 EventBridge
    (
        PRIYA,
        "Story number five: Amazon EventBridge got faster. The time from putting an event on "
        "a bus to reaching its target dropped by up to 94 percent.",
    ),
    (ALEX, "From what to what?"),
    (
        PRIYA,
        "Some users saw about 2 seconds before. Now Amazon quotes about 130 milliseconds at "
        "the 99th percentile. And the default quota for putting events went up to 10,000 "
        "events per second in the largest regions.",
    ),
    (
        ALEX,
        "That makes EventBridge a real option for work that used to need a queue in between. "
        "We use it for our own show pipeline, and honestly, the delay was never the problem. "
        "The retries were.",
    ),
    (
        PRIYA,
        "There is a second change: EventBridge Pipes can now send events straight to AWS "
        "Step Functions and Amazon SQS in 4 more regions.",
    ),
    (
        ALEX,
        "Which brings Pipes to 20 regions in total. Good news for anyone building outside "
        "the United States.",
    ),
    # 33 DynamoDB
    (
        PRIYA,
        "Our last story is another price cut. Amazon DynamoDB on-demand capacity is now 50 "
        "percent cheaper.",
    ),
    (
        ALEX,
        "Half price, for everyone, with nothing to do. And global tables got a cut of up to "
        "67 percent for replicated writes.",
    ),
    (
        PRIYA,
        "That changes the usual advice. For years people said: start on demand, then move to "
        "provisioned capacity once your traffic is steady. Now on demand wins for a lot more "
        "workloads.",
    ),
    (
        ALEX,
        "I would still look at provisioned capacity if your table runs flat out all day. But "
        "for spiky traffic, on demand is now the easy answer. The new prices apply from "
        "November 1st in all regions.",
    ),
    (
        PRIYA,
        "And it shows up on your bill by itself. No migration, no new table class, nothing "
        "to click. My favourite kind of launch.",
    ),
    (ALEX, "The kind you can announce from the beach."),
    # 39 outro
    (
        PRIYA,
        "And that's the week. Six stories: Aurora DSQL, cheaper Lambda, S3 Tables, caching "
        "and routing in Bedrock, a faster EventBridge, and half-price DynamoDB.",
    ),
    (
        ALEX,
        "If you want us to dig deeper into any of them, write to us. And Priya, next week I "
        "want a whole segment on why you still run a server under your desk.",
    ),
    (
        PRIYA,
        "It keeps my feet warm, Alex. Thanks for listening to Cloud Weekly. See you next week.",
    ),
]

METADATA = {
    "title": "Aurora DSQL Goes GA, Lambda Gets Cheaper, and S3 Tables",
    "show": "Cloud Weekly",
    "episode_number": 42,
    "hosts": [ALEX, PRIYA],
    "guests": [],
}

TOPICS: list[Topic] = [
    Topic(0, "Intro", ("Cloud Weekly", "AWS", "Alex Rivera", "Priya Shah"), ("10", "60")),
    Topic(
        3,
        "Amazon Aurora DSQL is generally available",
        (
            "Amazon Aurora DSQL",
            "PostgreSQL",
            "North Virginia",
            "Ohio",
            "Oregon",
            "Ireland",
            "Tokyo",
        ),
        ("99.95", "99.99", "5", "8", "33", "100,000", "1"),
    ),
    Topic(
        9,
        "AWS Lambda price cut on Graviton",
        ("AWS Lambda", "Graviton", "Arm", "Intel", "SnapStart", "Python", "Node"),
        ("1", "20", "1 million", "400,000", "10", "9"),
    ),
    Topic(
        15,
        "Amazon S3 Tables for Apache Iceberg",
        (
            "Amazon S3 Tables",
            "Apache Iceberg",
            "S3 Standard",
            "Amazon Athena",
            "Amazon Redshift",
            "Apache Spark",
            "Amazon EMR",
            "North Virginia",
            "Ohio",
            "Oregon",
        ),
        ("3", "10", "15"),
    ),
    Topic(
        21,
        "Amazon Bedrock prompt caching and intelligent prompt routing",
        ("Amazon Bedrock", "Claude Sonnet", "Claude Haiku", "North Virginia", "Oregon"),
        ("5", "90", "85", "30"),
    ),
    Topic(
        27,
        "Amazon EventBridge latency and quotas",
        ("Amazon EventBridge", "EventBridge Pipes", "AWS Step Functions", "Amazon SQS"),
        ("94", "2", "130", "99", "10,000", "4", "20"),
    ),
    Topic(
        33,
        "Amazon DynamoDB on-demand price cut",
        ("Amazon DynamoDB",),
        ("50", "67", "1"),
    ),
    Topic(
        39,
        "Outro",
        (
            "Aurora DSQL",
            "Lambda",
            "S3 Tables",
            "Bedrock",
            "EventBridge",
            "DynamoDB",
            "Alex",
            "Priya",
            "Cloud Weekly",
        ),
    ),
]


def main(argv: list[str] | None = None) -> int:
    out_dir = parse_out_dir(argv, "Regenerate the AWS-news sample (samples/aws-news.*).")
    write_sample("aws-news", SCRIPT, VOICES, METADATA, TOPICS, out_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
