package catalog_test

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/gobookstore/grpc-microservices-go/ch03-server-client/catalog"
)

// A seeded source makes the picks repeatable: this example prints the same
// books in the same order on every run. A real service passes nil.
func ExampleRecommender_Recommend() {
	r := catalog.NewRecommender(rand.NewPCG(3, 4))
	for range 2 {
		books, err := r.Recommend(context.Background(), 1, catalog.Mystery, 3)
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		fmt.Println(books)
	}

	books, err := r.Recommend(context.Background(), 1, catalog.SelfHelp, 1)
	fmt.Println(books, err)

	_, err = r.Recommend(context.Background(), 1, catalog.Category(99), 3)
	fmt.Println("error:", err)
	// Output:
	// [{3 The Hound of the Baskervilles} {1 The Maltese Falcon} {2 Murder on the Orient Express}]
	// [{2 Murder on the Orient Express} {1 The Maltese Falcon} {3 The Hound of the Baskervilles}]
	// [{8 How to Win Friends and Influence People}] <nil>
	// error: category not found: 99
}
