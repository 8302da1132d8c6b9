"""A Recommendations client as the Python series writes one.

The interop tests run it against the Go server. It prints one line per book,
"id  title", or the status code and message of a failed call, and exits 1
on failure: the same output as the Go client, cmd/client.

Usage: recommendations_client.py HOST:PORT CATEGORY MAX_RESULTS
CATEGORY is a name (SCIENCE_FICTION) or a number.
"""

import sys

import grpc

import recommendations_pb2 as pb
import recommendations_pb2_grpc as pb_grpc


def main():
    target, category, max_results = sys.argv[1], sys.argv[2], int(sys.argv[3])
    category = int(category) if category.lstrip("-").isdigit() else pb.BookCategory.Value(category)
    with grpc.insecure_channel(target) as channel:
        stub = pb_grpc.RecommendationsStub(channel)
        request = pb.RecommendationRequest(user_id=1, category=category, max_results=max_results)
        try:
            response = stub.Recommend(request, timeout=10)
        except grpc.RpcError as err:
            print(f"{err.code().name}: {err.details()}")
            sys.exit(1)
    for book in response.recommendations:
        print(f"{book.id}  {book.title}")


if __name__ == "__main__":
    main()
